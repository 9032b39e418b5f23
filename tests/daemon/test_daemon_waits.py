"""The daemon's main loop never waits: the control socket answers within 1 s while a blocking
call hangs (a stalled charon on VICI, a hung command, hung WAN and CARP reads), SIGHUP and
SIGTERM are served, and a stopped daemon leaves no probe ping behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from s2s_agent.core.errors import ControlError
from s2s_agent.tell import control
from tests.fakecharon import FakeCharon

HANG = "#!/bin/sh\necho $$ >> {pids}\nexec sleep 25\n"


def _script(path, text):
    path.write_text(text)
    path.chmod(0o755)
    return path


def start(tmp_path, body: str, *, path_dir=None):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        textwrap.dedent(f"""
        agent: {{interval: 1, state_dir: {tmp_path}/state, control_socket: {tmp_path}/ctl.sock}}
        alerts: {{syslog_socket: {tmp_path}/nosyslog.sock}}
    """)
        + textwrap.dedent(body)
    )
    env = dict(os.environ)
    if path_dir is not None:
        env["PATH"] = f"{path_dir}:{env['PATH']}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "s2s_agent", "run", "-c", str(cfg)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    sock = str(tmp_path / "ctl.sock")
    deadline = time.monotonic() + 15
    while not os.path.exists(sock):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.05)
    return proc, sock


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def answers_within_a_second(sock, seconds: float, *, during=None) -> list[float]:
    """Ask ``status`` over and over for ``seconds``; every answer must come within 1 s."""
    took = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if during is not None:
            during()
            during = None
        t0 = time.monotonic()
        try:
            control.request(sock, "status", timeout=1)
        except ControlError as exc:
            raise AssertionError(
                f"no answer within 1 s after {time.monotonic() - end + seconds:.1f}s: {exc}"
            ) from None
        took.append(time.monotonic() - t0)
        time.sleep(0.1)
    assert max(took) < 1.0
    return took


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_control_answers_while_charon_stalls_mid_reply(tmp_path):
    fake = FakeCharon(str(tmp_path / "charon.vici"), "stall_mid_reply")
    proc, sock = start(
        tmp_path,
        f"""
        strongswan: {{source: vici, vici_socket: {fake.path}, command_timeout: 30, log_file: null}}
        tunnels: [{{name: hq, ike: con1}}]
    """,
    )
    try:
        wait_for(lambda: fake.requests, what="the daemon to ask charon")
        answers_within_a_second(sock, 3, during=lambda: proc.send_signal(signal.SIGHUP))
        assert proc.poll() is None
    finally:
        stop(proc)
        fake.close()
    assert proc.returncode == 0


def test_control_answers_while_a_command_hangs_and_sigterm_ends_it(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    pids = tmp_path / "pids"
    swanctl = _script(bindir / "swanctl", HANG.format(pids=pids))
    proc, sock = start(
        tmp_path,
        f"""
        strongswan: {{source: swanctl, swanctl: {swanctl}, command_timeout: 60, log_file: null}}
        tunnels: [{{name: hq, ike: con1}}]
    """,
    )
    try:
        wait_for(pids.exists, what="swanctl to run")
        answers_within_a_second(sock, 2)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert time.monotonic() - t0 < 5  # SIGTERM is served at once, not after the command
    finally:
        stop(proc)
    for pid in pids.read_text().split():
        assert not _alive(int(pid)), "the hung command outlived the daemon"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_control_answers_while_wan_and_carp_reads_hang(tmp_path):
    """Remediation on: `ip` (the WAN read) and `ifconfig` (the CARP read) hang 4 s each."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    pids = tmp_path / "pids"
    for tool in ("ip", "ifconfig"):
        _script(bindir / tool, f"#!/bin/sh\necho {tool} >> {pids}\nexec sleep 4\n")
    swanctl = _script(bindir / "swanctl", "#!/bin/sh\nexit 0\n")
    secret = tmp_path / "secret"
    secret.write_text("s")
    secret.chmod(0o600)
    proc, sock = start(
        tmp_path,
        f"""
        strongswan: {{source: swanctl, swanctl: {swanctl}, log_file: null}}
        tunnels: [{{name: hq, ike: con1}}]
        azure: {{tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47,
                 client_id: 11111111-2222-3333-4444-555555555555, client_secret_file: {secret},
                 subscription_id: 00000000-1111-2222-3333-444444444444, resource_group: rg,
                 local_network_gateway: lng}}
        wan: {{source: interface, interface: lo, allow_private: true, poll_interval: 1}}
        remediation: {{enabled: true, local_backend: none, carp_interface: lo, carp_vhid: 1,
                       azure_status_interval: 0}}
    """,
        path_dir=bindir,
    )
    try:
        wait_for(
            lambda: pids.exists() and {"ip", "ifconfig"} <= set(pids.read_text().split()),
            what="the WAN and CARP reads to start",
        )
        answers_within_a_second(sock, 3)
        doc = control.request(sock, "status", timeout=1)
        rem = doc["tunnels"][0].get("remediation")
        assert rem is None or rem["role"] == "unknown"  # never "standalone" before CARP was read
    finally:
        stop(proc)
    assert proc.returncode == 0


@pytest.mark.skipif(sys.platform != "linux", reason="the fake ping speaks Linux iputils")
def test_sigterm_stops_a_running_probe_ping(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    pids = tmp_path / "pids"
    _script(bindir / "ping", HANG.format(pids=pids))
    swanctl = _script(bindir / "swanctl", "#!/bin/sh\nexit 0\n")
    proc, sock = start(
        tmp_path,
        f"""
        strongswan: {{source: swanctl, swanctl: {swanctl}, log_file: null}}
        tunnels: [{{name: hq, ike: con1, probe: {{source: 127.0.0.1, target: 127.0.0.2, timeout: 5}}}}]
    """,
        path_dir=bindir,
    )
    try:
        wait_for(pids.exists, what="the probe's ping to run")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        stop(proc)
    pid = int(pids.read_text().split()[0])
    wait_for(lambda: not _alive(pid), 3, what="the ping to be gone")  # old code: it ran on


def test_the_daemon_drops_idle_control_clients(tmp_path):
    import socket

    swanctl = _script(tmp_path / "swanctl", "#!/bin/sh\nexit 0\n")
    proc, sock = start(
        tmp_path,
        f"""
        strongswan: {{source: swanctl, swanctl: {swanctl}, log_file: null}}
        tunnels: [{{name: hq, ike: con1}}]
    """,
    )
    try:
        idle = [socket.socket(socket.AF_UNIX) for _ in range(3)]
        for s in idle:
            s.settimeout(control.CLIENT_TIMEOUT + 5)
            s.connect(sock)
        t0 = time.monotonic()
        for s in idle:
            assert s.recv(100) == b""  # hung up by the daemon, not by our own timeout
            s.close()
        assert time.monotonic() - t0 < control.CLIENT_TIMEOUT + 4
        assert control.request(sock, "ping", timeout=1) == {"pong": True}
    finally:
        stop(proc)
