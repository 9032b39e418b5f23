"""The ping probe: argv per platform, parsing real/golden outputs, hangs and failures."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from s2s_agent.core import osio
from s2s_agent.core.errors import CommandError
from s2s_agent.observe import probe
from s2s_agent.observe.probe import ProbeResult, build_ping_argv, parse_ping, run_probe

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "ping"
CASES = json.loads((GOLDEN / "cases.json").read_text())


def replay(name: str):
    """A runner that answers like the captured/written ping run ``name``."""
    case = CASES[name]
    out = (GOLDEN / f"{name}.out").read_text()
    err_file = GOLDEN / f"{name}.err"
    err = err_file.read_text() if err_file.exists() else ""
    calls = []

    def runner(argv, *, timeout, ok_codes):
        calls.append((list(argv), timeout))
        if case["returncode"] not in ok_codes:
            raise CommandError(argv, f"exited with status {case['returncode']}")
        return osio.Result(tuple(argv), case["returncode"], out, err)

    runner.calls = calls
    return runner


def source_target(argv):
    flag = "-S" if "-S" in argv else "-I" if "-I" in argv else None
    return (argv[argv.index(flag) + 1] if flag else None), argv[-1]


# ---- golden outputs --------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_run_probe(name):
    case, exp = CASES[name], CASES[name]["expect"]
    src, dst = source_target(case["argv"])
    res = run_probe(src, dst, 3, 2, system=case["system"], runner=replay(name))
    assert (res.source, res.target) == (src, dst)
    assert res.sent == exp["sent"]
    assert res.received == exp["received"]
    assert res.loss == pytest.approx(exp["loss"])
    for k in ("rtt_min", "rtt_avg", "rtt_max"):
        assert getattr(res, k) == (pytest.approx(exp[k]) if exp[k] is not None else None), k
    assert res.icmp_errors == exp["icmp_errors"]
    assert res.error == exp["error"]
    assert res.detail == exp["detail"]
    assert res.ok is (exp["received"] > 0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_parse_is_pure_and_counts(name):
    out = (GOLDEN / f"{name}.out").read_text()
    a = parse_ping(out, source="s", target="t", time=5.0)
    b = parse_ping(out, source="s", target="t", time=5.0)
    assert a == b and a.time == 5.0
    assert (a.sent, a.received) == (
        CASES[name]["expect"]["sent"],
        CASES[name]["expect"]["received"],
    )


def test_parse_linux_duplicates_and_errors_synthetic():
    text = (
        "--- 10.1.10.4 ping statistics ---\n"
        "4 packets transmitted, 3 received, +1 duplicates, +2 errors, 25% packet loss, time 3004ms\n"
        "rtt min/avg/max/mdev = 1.000/2.000/3.000/0.500 ms, pipe 2\n"
    )
    r = parse_ping(text)
    assert (r.sent, r.received, r.icmp_errors) == (4, 3, 2)
    assert r.loss == pytest.approx(0.25)
    assert (r.rtt_min, r.rtt_avg, r.rtt_max) == (1.0, 2.0, 3.0)
    assert r.error is None and r.detail == "2 ICMP errors"


def test_parse_freebsd_ipv6_and_duplicates():
    text = (
        "PING6(56=40+8+8 bytes) 2001:db8::1 --> 2001:db8::2\n"
        "16 bytes from 2001:db8::2, icmp_seq=0 hlim=64 time=0.100 ms\n\n"
        "--- 2001:db8::2 ping6 statistics ---\n"
        "2 packets transmitted, 1 packets received, +1 duplicates, 50.0% packet loss\n"
        "round-trip min/avg/max/std-dev = 0.100/0.150/0.200/0.050 ms\n"
    )
    r = parse_ping(text)
    assert (r.sent, r.received, r.loss) == (2, 1, 0.5)
    assert r.rtt_avg == 0.15
    assert r.error is None


def test_parse_without_summary_is_an_error_result():
    r = parse_ping("PING 10.1.10.4 (10.1.10.4) from 192.168.1.1: 56 data bytes\n")
    assert r.error.startswith("no ping summary") and r.loss == 1.0 and r.sent == 0
    assert parse_ping("").error == "ping printed nothing"


def test_path_trouble_is_a_measurement_not_a_probe_error():
    """Health reads ``error`` with 0 received as "probe broken": ICMP errors must not set it."""
    r = parse_ping((GOLDEN / "linux_hostunreach.out").read_text())
    assert r.error is None and r.loss == 1.0 and r.detail.endswith("Destination Host Unreachable")


def test_summary_with_nothing_sent_is_an_error():
    r = parse_ping("0 packets transmitted, 0 received, 0% packet loss\n")
    assert r.error == "ping sent nothing" and r.loss == 1.0


def test_received_more_than_sent_is_clamped():
    r = parse_ping(
        "2 packets transmitted, 3 packets received, -- somebody's printing up packets!\n"
    )
    assert r.loss == 0.0


# ---- argv --------------------------------------------------------------------------------
def test_freebsd_argv():
    assert build_ping_argv("FreeBSD", "192.168.1.1", "10.1.10.4", 3, 2) == [
        "ping",
        "-n",
        "-c",
        "3",
        "-S",
        "192.168.1.1",
        "-t",
        "4",
        "-W",
        "2000",
        "10.1.10.4",
    ]
    assert build_ping_argv("FreeBSD", None, "10.1.10.4", 1, 0.5) == [
        "ping",
        "-n",
        "-c",
        "1",
        "-t",
        "1",
        "-W",
        "500",
        "10.1.10.4",
    ]


def test_linux_argv():
    assert build_ping_argv("Linux", "192.168.1.1", "10.1.10.4", 3, 2) == [
        "ping",
        "-n",
        "-c",
        "3",
        "-I",
        "192.168.1.1",
        "-W",
        "2",
        "-w",
        "4",
        "10.1.10.4",
    ]
    assert build_ping_argv("Linux", None, "10.1.10.4", 5, 1.5)[-5:] == [
        "-W",
        "2",
        "-w",
        "6",
        "10.1.10.4",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("Linux", None, "-f", 3, 2),
        ("Linux", "-I", "10.0.0.1", 3, 2),
        ("Linux", None, "10.0.0.1 ; reboot", 3, 2),
        ("Linux", None, "10.0.0.1", 0, 2),
        ("FreeBSD", None, "10.0.0.1", 3, 0),
        ("Windows", None, "10.0.0.1", 3, 2),
    ],
)
def test_bad_argv_values_are_refused(args):
    with pytest.raises(ValueError):
        build_ping_argv(*args)


def test_run_probe_reports_bad_arguments_as_result():
    r = run_probe(None, "-f", system="Linux", runner=replay("linux_ok_loopback"))
    assert r.error and "not an address" in r.error and r.loss == 1.0


def test_runner_timeout_covers_ping_deadline():
    runner = replay("freebsd_ok")
    run_probe("192.168.1.1", "10.1.10.4", 3, 2, system="FreeBSD", runner=runner)
    ((argv, timeout),) = runner.calls
    assert timeout == 4 + probe.HANG_MARGIN
    assert argv[argv.index("-t") + 1] == "4"


def test_result_defaults_and_dict():
    r = ProbeResult(
        target="10.1.10.4",
        source="192.168.1.1",
        sent=3,
        received=0,
        loss=1.0,
        error="probe crashed: boom",
    )
    assert isinstance(r.time, float) and r.rtt_avg is None
    d = r.to_dict()
    assert set(d) == {
        "target",
        "source",
        "sent",
        "received",
        "loss",
        "rtt_min",
        "rtt_avg",
        "rtt_max",
        "error",
        "time",
        "icmp_errors",
        "detail",
    }


# ---- real processes -------------------------------------------------------------------
def fake_ping(dirpath: Path, body: str) -> None:
    p = dirpath / "ping"
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_hanging_ping_is_killed(tmp_path, monkeypatch):
    fake_ping(tmp_path, "echo 'PING 10.1.10.4'; exec sleep 60")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ.get('PATH', '')}")
    monkeypatch.setattr(probe, "HANG_MARGIN", 0.3)
    r = run_probe("192.168.1.1", "10.1.10.4", 1, 0.2, system="Linux")
    assert r.error == "ping timed out"
    assert r.loss == 1.0 and r.received == 0


def test_missing_ping_binary(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    r = run_probe("192.168.1.1", "10.1.10.4", 1, 1, system="Linux")
    assert r.error is not None and "command not found" in r.error
    assert r.loss == 1.0


def test_garbage_output(tmp_path, monkeypatch):
    fake_ping(tmp_path, "echo 'Segmentation fault? no, just nonsense'; exit 0")
    monkeypatch.setenv("PATH", str(tmp_path))
    r = run_probe(None, "10.1.10.4", 1, 1, system="Linux")
    assert r.error.startswith("no ping summary in output") and "nonsense" in r.error


def test_killed_by_signal_is_an_error_result(tmp_path, monkeypatch):
    fake_ping(tmp_path, "kill -9 $$")
    monkeypatch.setenv("PATH", str(tmp_path))
    r = run_probe(None, "10.1.10.4", 1, 1, system="Linux")
    assert r.error is not None and "-9" in r.error


@pytest.mark.skipif(shutil.which("ping") is None, reason="no ping binary")
def test_real_ping_loopback():
    r = run_probe("127.0.0.1", "127.0.0.1", 2, 1, system="Linux")
    if r.error and ("permission" in r.error.lower() or "not permitted" in r.error.lower()):
        pytest.skip(f"ping not allowed here: {r.error}")
    assert r.error is None, r.error
    assert (r.sent, r.received, r.loss) == (2, 2, 0.0)
    assert r.rtt_avg is not None and r.rtt_min <= r.rtt_avg <= r.rtt_max
    assert r.time is not None


@pytest.fixture
def silent_netns():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to build a network namespace")
    ns = f"s2sprobe-{uuid.uuid4().hex[:8]}"
    cmds = [
        ["ip", "netns", "add", ns],
        ["ip", "-n", ns, "link", "set", "lo", "up"],
        ["ip", "-n", ns, "link", "add", "br0", "type", "bridge"],
        ["ip", "-n", ns, "addr", "add", "10.9.9.1/24", "dev", "br0"],
        ["ip", "-n", ns, "link", "set", "br0", "up"],
        [
            "ip",
            "-n",
            ns,
            "neigh",
            "add",
            "10.9.9.2",
            "lladdr",
            "02:00:00:00:00:02",
            "dev",
            "br0",
            "nud",
            "permanent",
        ],
    ]
    try:
        for c in cmds:
            subprocess.run(c, check=True, capture_output=True, timeout=10)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        pytest.skip(f"cannot build a network namespace here: {exc}")
    yield ns
    subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def test_real_ping_without_answer(silent_netns):
    def in_ns(argv, **kw):
        return osio.run(["ip", "netns", "exec", silent_netns, *argv], **kw)

    r = run_probe("10.9.9.1", "10.9.9.2", 1, 1, system="Linux", runner=in_ns)
    assert r.error is None, r.error
    assert r.sent >= 1 and r.received == 0 and r.loss == 1.0
    assert r.rtt_avg is None
