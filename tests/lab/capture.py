"""Capture REAL strongSwan outputs from the lab as golden files for the parser tests.

Usage (root, project root): ``python -m tests.lab.capture [OUTDIR]`` (default
``tests/golden/lab``). Writes ``<scenario>/{swanctl-list-sas.txt, ipsec-statusall.txt,
vici-list-sas.json, meta.json}`` for the scenarios ``single``, ``multi``, ``connecting``
and ``starter``, the onprem logs ``logs/charon.log`` (charon filelog) and ``logs/ipsec.log``
(syslog via /dev/log, pfSense format) plus ``logs/azure-charon.log`` (responder side), and
``README.md`` saying how, when and with which strongSwan everything was produced.
Each lab uses its own namespaces (prefix ``s2scap``) and is always torn down.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import vici

from .config import Scenario
from .lab import Lab, LabError

log = logging.getLogger(__name__)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "golden" / "lab"
PREFIX = "s2scap"
# vici/swanctl chatter and start-up noise that no parser needs
_NOISE = re.compile(
    r"\[CFG\] vici client \d+|\[CFG\] (?:loading|loaded) |\[CFG\]   |\[CFG\] added vici |"
    r"\[CFG\] updated vici |\[CFG\] loaded IKE shared key|\[CFG\] (?:added|updated) configuration|"
    r"\[LIB\] |\[DMN\] |\[KNL\] (?:known interfaces|  )|\[NET\] using forecast|\[CFG\] no (?:threshold|authorities)|"
    r"\[CFG\]   |\[IKE\] no private key|\[CFG\] using |\[CFG\] (?:unloaded|replaced) |"
    r"\[CFG\]  conn |\[IKE\] <[^>]+> (?:queueing \w+ task|activating new tasks|  activating \w+ task|"
    r"nothing to initiate)$"
)


# one real onprem line per LOG_KINDS event (capture fails if one is missing)
EVENT_LINES = {
    "ike_established": r"IKE_SA con1\[\d+\] established between",
    "child_established": r"CHILD_SA con1\{\d+\} established with SPIs",
    "ike_deleted": r"<con1\|\d+> IKE_SA deleted",
    "child_deleted": r"<con1\|\d+> CHILD_SA closed",
    "dpd_request": r"<con1\|\d+> sending DPD request",
    "retransmit": r"<con1\|\d+> retransmit \d+ of request",
    "retransmit_giveup": r"<con1\|\d+> giving up after \d+ retransmits",
    "auth_failed": r"<con91\|\d+> received AUTHENTICATION_FAILED notify error",
    "no_proposal": r"<con92\|\d+> received NO_PROPOSAL_CHOSEN notify error",
    "ts_unacceptable": r"<con93\|\d+> received TS_UNACCEPTABLE notify",
    "peer_config_not_found": r"no matching peer config found",
    "address_change": r"\[KNL\] 192\.0\.2\.77 appeared on wan0",
}


def decode(obj: Any) -> Any:
    """VICI answers: bytes everywhere, lists of bytes, nested OrderedDicts -> plain JSON (order kept)."""
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if isinstance(obj, dict):
        return {k.decode() if isinstance(k, bytes) else k: decode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [decode(v) for v in obj]
    return obj


def vici_list_sas(path: Path) -> list:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(path))
    try:
        return [decode(sa) for sa in vici.Session(sock).list_sas()]
    finally:
        sock.close()


def snapshot(lab: Lab, outdir: Path, name: str, note: str) -> None:
    """Write the three outputs of the onprem side plus their exit codes."""
    d = outdir / name
    d.mkdir(parents=True, exist_ok=True)
    sas = lab.swanctl("onprem", "--list-sas", ok_codes=range(256))
    st = lab.ipsec("onprem", "statusall", ok_codes=range(256))
    (d / "swanctl-list-sas.txt").write_text(sas.stdout + sas.stderr)
    (d / "ipsec-statusall.txt").write_text(st.stdout + st.stderr)
    (d / "vici-list-sas.json").write_text(
        json.dumps(vici_list_sas(lab.vici_socket("onprem")), indent=2) + "\n"
    )
    sc = {k: v for k, v in asdict(lab.scenario).items() if k != "psk"}
    meta = {
        "scenario": name,
        "note": note,
        "commands": {
            "swanctl --list-sas": sas.returncode,
            "ipsec statusall": st.returncode,
            "vici list_sas()": 0,
        },
        "lab_scenario": sc,
        "captured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (d / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info("captured %s", d)


def _lab(base: Path, name: str, sc: Scenario) -> Lab:
    root = base / name
    root.mkdir()
    return Lab(root, prefix=PREFIX, scenario=sc)


def _try_initiate(lab: Lab, child: str, timeout: int = 5, side: str = "onprem") -> None:
    """An initiate that is expected to fail or time out (its exit code is not checked)."""
    lab.swanctl(
        side,
        "--initiate",
        "--child",
        child,
        "--timeout",
        str(timeout),
        timeout=timeout + 5,
        ok_codes=range(256),
    )


def _log_has(lab: Lab, pattern: str, side: str = "onprem") -> Callable[[], bool]:
    rx = re.compile(pattern)
    return lambda: bool(rx.search(lab.charon_log(side).read_text()))


def capture_single_and_connecting(base: Path, out: Path) -> None:
    with _lab(base, "single", Scenario()) as lab:
        lab.initiate("con1")
        lab.wait_for(lambda: lab.ping(1), 10, what="in-tunnel ping")
        lab.ping(4)
        snapshot(lab, out, "single", "con1 ESTABLISHED/INSTALLED after 5 pings (bytes > 0)")
        lab.kill_charon("azure")
        lab.terminate_ike("con1", timeout=3, force=True)
        _try_initiate(lab, "con1", 1)
        lab.wait_for(
            lambda: "CONNECTING" in lab.swanctl("onprem", "--list-sas").stdout,
            5,
            what="con1 CONNECTING",
        )
        snapshot(
            lab,
            out,
            "connecting",
            "con1 initiated towards a dead peer (azure charon killed), CONNECTING",
        )


def capture_multi(base: Path, out: Path) -> None:
    with _lab(base, "multi", Scenario(con2=True, con3=True)) as lab:
        for child in ("con1", "con2_1", "con2_2", "con3"):
            lab.initiate(child)
        for src, dst in (
            ("192.168.1.1", "10.1.10.1"),
            ("192.168.1.1", "10.1.20.1"),
            ("192.168.2.1", "10.1.20.1"),
            ("192.168.2.1", "10.1.30.1"),
        ):
            lab.wait_for(
                lambda s=src, d=dst: lab.ping(1, src=s, dst=d), 10, what=f"ping {src}->{dst}"
            )
        snapshot(
            lab, out, "multi", "con1 + con2 (children con2_1, con2_2) + IKEv1 con3, all established"
        )


def capture_starter(base: Path, out: Path) -> None:
    with _lab(base, "starter", Scenario(mode="starter")) as lab:
        lab.initiate("con1")
        lab.wait_for(lambda: lab.ping(1), 10, what="in-tunnel ping")
        lab.ping(2)
        snapshot(
            lab,
            out,
            "starter",
            "legacy ipsec.conf + starter (pfSense <= 2.4), con1 up after 3 pings",
        )


def capture_logs(base: Path, out: Path) -> list[str]:
    """Provoke every log event kind on one lab; returns the steps for the README."""
    sc = Scenario(test_conns=True, dpd_delay=4, retransmit_timeout=1.0, retransmit_tries=2)
    steps: list[str] = []
    with _lab(base, "events", sc) as lab:

        def step(text: str) -> None:
            steps.append(text)
            log.info("events: %s", text)

        step("initiate con1 (IKE + CHILD established), ping")
        lab.initiate("con1")
        lab.wait_for(lambda: lab.ping(1), 10, what="in-tunnel ping")
        step("stay idle until DPD requests are sent (dpd_delay=4s)")
        lab.wait_for(_log_has(lab, r"sending DPD request"), 15, what="a DPD request")
        step("initiate con91: wrong PSK (AUTHENTICATION_FAILED)")
        _try_initiate(lab, "con91")
        for child, what in (
            ("con92", "proposal mismatch (NO_PROPOSAL_CHOSEN)"),
            ("con93", "traffic selector mismatch (TS_UNACCEPTABLE)"),
            ("con94", "identity unknown to azure (no matching peer config there)"),
        ):
            step(f"initiate {child}: {what}")
            _try_initiate(lab, child)
        step("azure initiates 'unknownid' (id unknown.azure.test): onprem finds no peer config")
        _try_initiate(lab, "unknownid", side="azure")
        lab.terminate_ike("con93")
        step(
            "terminate child con1 (CHILD deleted), re-create it, terminate IKE con1 (IKE deleted), initiate again"
        )
        lab.swanctl("onprem", "--terminate", "--child", "con1", "--timeout", "5", timeout=10)
        lab.initiate("con1")
        lab.terminate_ike("con1")
        lab.initiate("con1")
        step("SIGKILL the azure charon: DPD, retransmits, giving up, dpd_action=restart")
        lab.kill_charon("azure")
        lab.wait_for(_log_has(lab, r"giving up after \d+ retransmits"), 40, what="giving up")
        lab.wait_for(
            _log_has(lab, r"establishing IKE_SA failed, peer not responding"),
            40,
            what="the restart attempt to fail",
        )
        step("restart azure charon, initiate con1")
        lab.start_charon("azure")
        lab.initiate("con1")
        step("move the onprem WAN address 198.51.100.2 -> 192.0.2.77 (KNL address events)")
        lab.set_wan_ip("192.0.2.77")
        lab.wait_for(_log_has(lab, r"192\.0\.2\.77 appeared"), 10, what="the KNL address event")
        time.sleep(2)
        step("reprogram azure (LNG) and onprem (local id) to 192.0.2.77, initiate con1")
        lab.reprogram_azure_peer("192.0.2.77")
        lab.reconfigure_onprem("192.0.2.77")
        lab.terminate_ike("con1", timeout=3, force=True)
        lab.initiate("con1")
        lab.wait_for(lambda: lab.ping(1), 10, what="in-tunnel ping from the new address")
        time.sleep(0.5)
        logs = out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for src, dst in (
            (lab.charon_log("onprem"), "charon.log"),
            (lab.syslog_log(), "ipsec.log"),
            (lab.charon_log("azure"), "azure-charon.log"),
        ):
            lines = [
                ln for ln in src.read_text().splitlines(keepends=True) if not _NOISE.search(ln)
            ]
            (logs / dst).write_text("".join(lines))
    text = (logs / "charon.log").read_text()
    found = {}
    for kind, pattern in EVENT_LINES.items():
        m = re.search(rf"^.*{pattern}.*$", text, re.M)
        if not m:
            raise LabError(f"the log capture has no {kind} line (/{pattern}/)")
        found[kind] = m.group(0)
    steps.append("EVENTS")
    for kind, line in found.items():
        cell = line.replace("|", "\\|")  # a pipe inside a table cell must be escaped
        steps.append(f"| `{kind}` | `{cell}` |")
    return steps


def strongswan_version() -> str:
    from s2s_agent.core.osio import run

    return run(["ipsec", "--version"], ok_codes=range(256)).stdout.splitlines()[0].strip()


def write_readme(out: Path, steps: list[str]) -> None:
    cut = steps.index("EVENTS") if "EVENTS" in steps else len(steps)
    step_lines = "\n".join(f"{i}. {s}" for i, s in enumerate(steps[:cut], 1))
    event_rows = "\n".join(steps[cut + 1 :])
    (out / "README.md").write_text(f"""# Golden captures from the real lab

Produced by `python -m tests.lab.capture {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}`
(run as root from the project root) on {time.strftime("%Y-%m-%d %H:%M %Z")} with
`{strongswan_version()}` (Debian 12 packages, kernel-libipsec data plane). Real outputs,
not hand-written: re-run the command to refresh them (SPIs, times and counters change).

Each scenario directory holds what the onprem (pfSense) side shows:
`swanctl-list-sas.txt` (`swanctl --list-sas`), `ipsec-statusall.txt` (`ipsec statusall`,
stroke plugin), `vici-list-sas.json` (`vici.Session.list_sas()` of the `vici` package,
bytes decoded to str, order kept) and `meta.json` (exit codes, lab scenario, time).

| scenario | what |
| --- | --- |
| `single` | `con1` (IKEv2, PSK, aes256-sha256-modp1024) established, child `con1` INSTALLED after 5 pings |
| `multi` | `con1` + `con2` to 203.0.113.2 with children `con2_1`/`con2_2` + IKEv1 `con3` to 203.0.113.3 |
| `connecting` | azure charon SIGKILLed, `con1` re-initiated: CONNECTING, remote id `%any`, no child |
| `starter` | legacy `ipsec.conf` + `ipsec start --nofork` (pfSense <= 2.4), `ipsec up con1` |

`logs/charon.log` is the onprem charon filelog (`time_format = %b %e %H:%M:%S`,
`ike_name = yes`, levels default=1 ike=2 cfg=2 knl=1 net=1); `logs/ipsec.log` holds the same
events as pfSense's `/var/log/ipsec.log`: charon's `syslog` section (identifier `charon`)
-> glibc `syslog(3)` -> `/dev/log` bind-mounted in charon's mount namespace -> the lab's
`tests/lab/syslogd.py`, which writes BSD lines with host `pfsense` and the sender's real pid
(from SO_PASSCRED; FreeBSD's libc always sends it, glibc does not). `logs/azure-charon.log`
is the responder side. vici/config-loading chatter was filtered out (`_NOISE` in
capture.py); nothing else was edited. The log lab used dpd_delay=4s, retransmit_timeout=1s,
retransmit_tries=2 and these steps:

{step_lines}

One real line per event kind of `s2s_agent.core.model.LOG_KINDS` in `logs/charon.log` (the same
events are in `logs/ipsec.log` with the syslog header):

| kind | first line |
| --- | --- |
{event_rows}
""")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]).resolve() if args else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="s2scap-") as tmp:
        base = Path(tmp)
        capture_single_and_connecting(base, out)
        capture_multi(base, out)
        capture_starter(base, out)
        steps = capture_logs(base, out)
    write_readme(out, steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
