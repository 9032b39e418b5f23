"""The ``s2s-agent`` command line: run, status, check, metrics, parse, validate-config.

The daemon returns data; this module only fetches and formats it. Exit codes: 0 fine,
1 a runtime failure, 2 invalid config or usage, and for ``check`` the Nagios codes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from . import __version__
from . import config as config_mod
from .core.errors import ConfigError, ControlError, ParseError, S2SError, StateError
from .tell import render

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        default=config_mod.DEFAULT_PATH,
        help=f"config file (default {config_mod.DEFAULT_PATH})",
    )
    p = argparse.ArgumentParser(
        prog="s2s-agent",
        parents=[common],
        description="Keeps a site-to-site IPsec tunnel to Azure alive.",
    )
    p.add_argument("--version", action="version", version=f"s2s-agent {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    r = sub.add_parser("run", parents=[common], help="run the daemon in the foreground")
    r.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    s = sub.add_parser("status", parents=[common], help="show tunnel health")
    s.add_argument("--json", action="store_true", help="print the status document as JSON")
    ck = sub.add_parser("check", parents=[common], help="Nagios plugin: one line, exit 0/1/2/3")
    ck.add_argument("--tunnel", default=None, help="check this tunnel (and its LNG) only")
    sub.add_parser("metrics", parents=[common], help="Prometheus text exposition format")
    v = sub.add_parser("validate-config", parents=[common], help="check the config file and exit")
    v.add_argument(
        "--without-credential-file",
        action="store_true",
        help="check the settings only, not the credential file they name (the "
        "pfSense GUI checks a form before its Save writes that file)",
    )
    rm = sub.add_parser("remediate", parents=[common], help="run the remediation plan once now")
    rm.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    rm.add_argument("--json", action="store_true", help="print JSON")
    pa = sub.add_parser("parse", help="offline: parse saved strongSwan output into JSON")
    pa.add_argument("format", choices=("statusall", "list-sas", "log"))
    pa.add_argument("file", help="the saved output, or - for standard input")
    pa.add_argument(
        "--year",
        type=int,
        default=None,
        help="year for BSD syslog timestamps, which carry none (default: this year, "
        "or last year for a month more than one ahead of today)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {
        "run": cmd_run,
        "status": cmd_status,
        "check": cmd_check,
        "metrics": cmd_metrics,
        "validate-config": cmd_validate,
        "parse": cmd_parse,
        "remediate": cmd_remediate,
    }
    if args.command is None:
        _parser().print_help(sys.stderr)
        return 2
    try:
        return handlers[args.command](args)
    except ConfigError as exc:
        print(f"s2s-agent: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except S2SError as exc:
        print(f"s2s-agent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line an admin can report, never a traceback
        log.debug("unexpected error", exc_info=True)
        print(f"s2s-agent: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def cmd_validate(args) -> int:
    from .config.azure import check_credential_file

    cfg = config_mod.load(args.config)
    if not args.without_credential_file:
        check_credential_file(cfg)  # the rules of its use: missing, mode, owner, symlink, FIFO
    names = ", ".join(f"{t.name} ({t.ike})" for t in cfg.tunnels)
    print(f"{cfg.path}: OK, {len(cfg.tunnels)} tunnel(s): {names}")
    return 0


def cmd_run(args) -> int:
    cfg = config_mod.load(args.config)
    level = logging.DEBUG if args.verbose else getattr(logging, cfg.agent.log_level.upper())
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("s2s_agent").setLevel(level)
    from .daemon import Daemon  # keeps the CLI's other commands light

    return Daemon(cfg).run()


def fetch_status(config_path: str) -> tuple[dict | None, str | None]:
    """The daemon's status, else the last persisted one with its age; (doc, error)."""
    try:
        cfg = config_mod.load(config_path)
        sock, state_file = cfg.agent.control_socket, cfg.agent.state_file
    except ConfigError as exc:
        print(f"s2s-agent: warning: {exc}; using default paths", file=sys.stderr)
        d = config_mod.AgentSettings()
        sock, state_file = d.control_socket, d.state_file
    try:
        return _live(sock), None
    except ControlError as exc:
        why = str(exc)
    from .core import statefile

    try:
        data = statefile.load(state_file)
        doc = dict(data["status"])
        doc["source"] = "state_file"
        doc["age_seconds"] = round(max(0.0, time.time() - float(data["saved"])), 1)
        doc["note"] = why
        return doc, None
    except FileNotFoundError:
        return None, f"{why}; no saved state at {state_file}"
    except StateError as exc:
        return None, f"{why}; saved state unusable: {exc}"


def _live(sock: str) -> dict:
    from .tell import control

    return control.request(sock, "status")


def _render(fn, doc: dict) -> tuple[str | None, str | None]:
    """(text, None) or (None, why): a status document of an odd shape is no traceback."""
    try:
        return fn(doc), None
    except Exception as exc:  # a daemon of another version, or a state file edited by hand
        log.debug("cannot render the status", exc_info=True)
        return None, f"the status document has an unexpected shape ({type(exc).__name__}: {exc})"


def cmd_status(args) -> int:
    doc, err = fetch_status(args.config)
    text = None
    if doc is not None:
        text, err = _render(render.to_json if args.json else render.status_text, doc)
    if text is None:
        print(f"s2s-agent: {err}", file=sys.stderr)
        return 3
    sys.stdout.write(text)
    return 0 if doc.get("source") == "daemon" else 1


def cmd_check(args) -> int:
    doc, err = fetch_status(args.config)
    stale = None
    if doc is not None:
        interval = (doc.get("agent") or {}).get("interval")
        stale = 3 * float(interval) if isinstance(interval, int | float) and interval > 0 else 30.0
    try:
        code, line = render.check(doc, stale_after=stale, error=err, tunnel=args.tunnel)
    except Exception as exc:  # odd shape: Nagios UNKNOWN, never a traceback (exit 1 = WARNING)
        code, line = (
            render.NAGIOS_UNKNOWN,
            f"S2S UNKNOWN - unusable status document ({type(exc).__name__})",
        )
    print(line)
    return code


def cmd_metrics(args) -> int:
    doc, err = fetch_status(args.config)
    text = None
    if doc is not None:
        text, err = _render(render.metrics, doc)
    if text is None:
        print(f"s2s-agent: {err}", file=sys.stderr)
        return 3
    sys.stdout.write(text)
    return 0


def cmd_remediate(args) -> int:
    """Ask the running daemon; without one, observe once here and plan (or run) locally.

    "Without one" is decided by the run lock (:mod:`.runlock`), not by the socket error: a
    daemon that holds the lock but does not answer (stopped, overloaded, hung) is alive, and
    acting beside it would bypass its write count; then nothing is done (exit 1).
    """
    from .core import runlock
    from .tell import control

    cfg = config_mod.load(args.config)
    command = "plan" if args.dry_run else "remediate"
    try:
        out = control.request(cfg.agent.control_socket, command, timeout=10)
        out["via"] = "daemon"
    except ControlError as exc:
        try:
            lock = runlock.acquire(cfg.agent.state_dir, what="remediate")
        except runlock.LockHeld as held:
            who = f"pid {held.pid}" if held.pid else "a process"
            raise ControlError(
                f"a live s2s-agent ({who}, lock {runlock.lock_path(cfg.agent.state_dir)}) holds "
                f"the remediation lock but did not answer ({exc}); refusing to remediate beside "
                f"it. Check it with `s2s-agent status`; if it is stopped or hung, restart it "
                "(service s2s_agent restart)"
            ) from None
        with lock:  # no daemon: this process is the only remediator until it exits
            out = _remediate_locally(cfg, args.dry_run)
        out["via"] = "one-shot (daemon not running)"
    if args.json:
        sys.stdout.write(render.to_json(out))
    else:
        sys.stdout.write(render.plan_text(out, dry_run=args.dry_run))
    if not out.get("enabled", True):
        return 1
    rec = out.get("record")
    return 1 if rec is not None and not rec.get("ok") else 0


def _remediate_locally(cfg, dry_run: bool) -> dict:
    """One observation, one plan, maybe one run, with the daemon's state and CARP rules."""
    from .daemon import Daemon

    d = Daemon(cfg)  # reads state.json: the applied IP and the Azure write history
    if d.remedy_loop is None:
        return d._plan({})
    loop = d.remedy_loop
    loop.refresh_role()  # a BACKUP does not act
    d.tunnels = d.observer.cycle()
    for monitor in getattr(loop, "monitors", {"": loop.wan}).values():  # several WAN sources
        _confirm_wan(monitor)
    if dry_run:
        return d._plan({})
    out = d._remediate({})
    loop.wait()
    record = loop.last_record()
    if out.get("started") and record is not None:
        out["record"] = record
    d.persist(d.clock(), force=True)  # the write history, for the daemon that starts next
    return out


def _confirm_wan(wan) -> None:
    """Poll the WAN IP like the daemon does, until a pending change is confirmed or given up
    (the hysteresis: ``wan.hold_count`` readings over ``wan.hold_seconds``; bounded)."""
    end = time.monotonic() + wan.settings.hold_seconds + 2.0
    wan.poll()
    while wan.tracker.candidate is not None and time.monotonic() < end:
        time.sleep(max(0.0, min(wan.next_poll, end) - time.monotonic()))
        wan.poll()


def cmd_parse(args) -> int:
    from .observe import parsers

    if args.file == "-":
        text = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    else:
        try:
            with open(args.file, "rb") as fh:
                text = fh.read().decode("utf-8", errors="replace")
        except OSError as exc:
            print(f"s2s-agent: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 1
    try:
        if args.format in ("statusall", "list-sas"):
            fn = parsers.parse_statusall if args.format == "statusall" else parsers.parse_list_sas
            snap = fn(text)
            for w in snap.warnings:  # what was skipped; the JSON carries them too
                print(f"s2s-agent: warning: skipped {w}", file=sys.stderr)
            out = snap.to_dict(warnings=True)
        else:
            kwargs = {"year": args.year} if args.year else {}
            out = [e.to_dict() for e in parsers.parse_log(text, **kwargs)]
    except ParseError as exc:
        print(f"s2s-agent: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
