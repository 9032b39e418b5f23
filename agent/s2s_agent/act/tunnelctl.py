"""Tunnel control on the local charon: terminate an IKE SA, initiate a child, reload config.

Actions (no decisions): each call opens its own VICI connection (``vici`` package, a Unix
socket with a timeout, like :func:`s2s_agent.observe.sources.vici_list_sas`), so a charon restart
between two calls is harmless. ``--load-all`` has no VICI equivalent (swanctl parses the
files itself), so :func:`load_all` runs ``swanctl --load-all --noprompt`` through
:func:`s2s_agent.core.osio.run`.

Every failure raises :class:`LocalApplyError` naming the step, the command and charon's own
message (``no matching SAs to terminate found``, ``establishing CHILD_SA 'con1' failed``).
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable, Sequence

from ..core import osio
from ..core.errors import CommandError, LocalApplyError
from ..observe import viciio

log = logging.getLogger(__name__)

DEFAULT_VICI_SOCKET = "/var/run/charon.vici"
Runner = Callable[..., osio.Result]


def _vici_call(socket_path: str, timeout: float, what: str, fn: Callable) -> object:
    """Open a VICI session on ``socket_path``, run ``fn(session)``, map every failure."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(socket_path)
        return fn(viciio.session_on(sock, timeout))  # the whole call ends by the deadline
    except FileNotFoundError:
        raise LocalApplyError(
            what.split()[0],
            f"VICI {what}: socket {socket_path} does not "
            "exist; is charon running? (strongswan.vici_socket)",
        ) from None
    except ConnectionRefusedError:
        raise LocalApplyError(
            what.split()[0],
            f"VICI {what}: {socket_path} refused the connection; charon is not running",
        ) from None
    except TimeoutError:
        raise LocalApplyError(
            what.split()[0],
            f"VICI {what}: charon did not answer on {socket_path} within {timeout:g}s",
        ) from None
    except OSError as exc:
        raise LocalApplyError(
            what.split()[0], f"VICI {what} on {socket_path}: {exc.strerror or exc}"
        ) from None
    except LocalApplyError:
        raise
    except Exception as exc:  # vici.exception.CommandException / SessionException
        raise LocalApplyError(
            what.split()[0], f"VICI {what} on {socket_path} failed: {_charon_message(exc)}"
        ) from None
    finally:
        sock.close()


def _charon_message(exc: Exception) -> str:
    text = str(exc)
    return text.removeprefix("Command failed: ") or type(exc).__name__


def _millis(timeout: float) -> str:
    return str(max(1, int(timeout * 1000)))


def terminate_ike(
    name: str, timeout: float = 5.0, *, socket_path: str = DEFAULT_VICI_SOCKET
) -> bool:
    """Delete every IKE SA of connection ``name`` with ``force`` (no wait for a dead peer).

    Returns True when an SA was terminated, False when there was none.
    """

    def call(session) -> bool:
        # force without a timeout: charon sends DELETE and destroys the SA at once (with a
        # timeout it waits for the dead peer's answer and then reports a failure)
        msg = {"ike": name, "force": "yes"}
        try:
            for _ in session.terminate(msg):
                pass
        except Exception as exc:
            if "no matching SAs" in str(exc):
                return False
            raise
        return True

    done = bool(_vici_call(socket_path, timeout + 2, f"terminate ike={name}", call))
    log.info("terminate IKE SA %s: %s", name, "done" if done else "none was up")
    return done


def initiate_child(
    child: str, timeout: float = 10.0, *, socket_path: str = DEFAULT_VICI_SOCKET
) -> float:
    """Initiate CHILD_SA ``child`` (and its IKE SA) and wait for it; returns the seconds taken.

    Raises LocalApplyError with charon's reason when it did not come up within ``timeout``.
    """

    def call(session) -> None:
        msg = {"child": child, "timeout": _millis(timeout), "init-limits": "no"}
        for _ in session.initiate(msg):
            pass

    start = time.monotonic()
    _vici_call(socket_path, timeout + 2, f"initiate child={child}", call)
    took = time.monotonic() - start
    log.info("initiated CHILD_SA %s in %.3fs", child, took)
    return took


def conn_local_ids(
    name: str, timeout: float = 5.0, *, socket_path: str = DEFAULT_VICI_SOCKET
) -> list[str]:
    """The local identities charon has *loaded* for connection ``name`` (``list-conns``)."""

    def call(session) -> list[str]:
        ids: list[str] = []
        for conn in session.list_conns({"ike": name}):
            body = conn.get(name) or conn.get(name.encode()) or {}
            for key, section in body.items():
                key = key.decode() if isinstance(key, bytes) else key
                if key.startswith("local") and isinstance(section, dict):
                    value = section.get("id", section.get(b"id"))
                    if value is None:
                        continue
                    for ident in value if isinstance(value, list) else [value]:
                        ids.append(ident.decode() if isinstance(ident, bytes) else str(ident))
        return ids

    found = _vici_call(socket_path, timeout, f"list-conns ike={name}", call)
    return list(found)  # type: ignore[arg-type]


def load_all(
    *,
    swanctl: str = "swanctl",
    conf_file: str | None = None,
    uri: str | None = None,
    timeout: float = 15.0,
    runner: Runner = osio.run,
) -> osio.Result:
    """``swanctl --load-all --noprompt [--file F] [--uri U]``: (re)load conns and secrets.

    Judged like swanctl itself judges: by its exit status and by its own per-item failure
    lines (``loading connection 'con1' failed: invalid value for: proposals, config
    discarded``, ``loaded 0 of 1 connections, 1 failed to load``, ``loading ike secret 'x'
    failed: ...``, ``load-conn request failed: ...``). Warnings about its own plugins
    (``plugin 'aesni': failed to load - ...``, printed wherever swanctl's compiled-in plugin
    list differs from the installed plugins) or missing credential directories (``opening
    directory '.../x509' failed``) are harmless and never fail the load.

    Raises LocalApplyError with swanctl's first per-item failure line (or its last line).
    """
    argv: list[str] = [swanctl, "--load-all", "--noprompt"]
    if conf_file:
        argv += ["--file", conf_file]
    if uri:
        argv += ["--uri", uri]
    cmd = " ".join(argv)
    try:
        res = runner(argv, timeout=timeout)
    except CommandError as exc:
        raise LocalApplyError("load-all", f"{cmd} failed: {_swanctl_reason(exc)}") from None
    # swanctl exits non-zero when an item failed; some versions exit 0 anyway: read its lines
    bad = _failed_lines(res.stdout + "\n" + res.stderr)
    if bad:
        raise LocalApplyError("load-all", f"{cmd} failed: {bad[0]}")
    log.info("swanctl --load-all: %s", _summary(res.stdout))
    return res


# swanctl's own failure lines (src/swanctl/commands/load_*.c): per item, per request, summary
_FAILED_RE = re.compile(
    r"^(?:loading (?:connection|pool|authority|\w+ secret|secret|private key|key|"
    r"certificate|token)\b.* failed\b"
    r"|unloading .* failed\b"
    r"|loaded \d+ of \d+ \w+, \d+ failed to load"
    r"|[\w-]+ request failed\b"
    r"|parsing .* failed\b"
    r"|connecting to .* failed\b"
    r"|Error: )"
)


def _failed_lines(text: str) -> Sequence[str]:
    """swanctl's failure lines in ``text``; its plugin/directory warnings are not failures."""
    lines = [ln.strip() for ln in text.splitlines()]
    return [ln for ln in lines if _FAILED_RE.match(ln)]


def _swanctl_reason(exc: CommandError) -> str:
    """Why swanctl failed: its first failure line, else its last non-warning line."""
    if exc.returncode is None:  # timed out, not found, not startable: osio said why
        return str(exc)
    text = exc.stdout + "\n" + exc.stderr
    bad = _failed_lines(text)
    if bad:
        return bad[0]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not _WARNING_RE.match(ln)]
    return f"{lines[-1]} (exit status {exc.returncode})" if lines else str(exc)


_WARNING_RE = re.compile(r"^(?:plugin '[^']*': failed to load|opening directory '.*' failed)")


def _summary(stdout: str) -> str:
    lines = [ln.strip() for ln in stdout.splitlines() if ln.startswith("successfully loaded")]
    return "; ".join(lines) or "ok"
