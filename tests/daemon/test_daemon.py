"""The daemon without strongSwan: fake tool scripts on PATH, a real syslog listener."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from s2s_agent import config
from s2s_agent.core import runlock
from s2s_agent.daemon import Daemon
from s2s_agent.observe.observer import Observer
from s2s_agent.tell import control
from s2s_agent.tell.syslogsend import SyslogSender

LAB = Path(__file__).resolve().parents[1] / "golden" / "lab"


@pytest.fixture
def env(tmp_path):
    """A fake `swanctl` whose output is whatever file `sas.txt` holds, and a syslog socket."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    sas = tmp_path / "sas.txt"
    sas.write_text((LAB / "single" / "swanctl-list-sas.txt").read_text())
    script = bindir / "swanctl"
    script.write_text(f"#!/bin/sh\ncat '{sas}'\n")
    script.chmod(0o755)
    logsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    logsock.bind(str(tmp_path / "syslog.sock"))
    logsock.settimeout(0.2)
    (tmp_path / "ipsec.log").write_text("")
    cfg_text = textwrap.dedent(f"""
        agent: {{interval: 1, state_dir: {tmp_path}/state, control_socket: {tmp_path}/ctl.sock}}
        strongswan: {{source: swanctl, swanctl: {script}, log_file: {tmp_path}/ipsec.log}}
        alerts: {{syslog_socket: {tmp_path}/syslog.sock, reminder_interval: 0}}
        tunnels:
          - {{name: hq, ike: con1, children: [con1]}}
    """)
    (tmp_path / "cfg.yaml").write_text(cfg_text)
    yield tmp_path, sas, logsock
    logsock.close()


def received(sock):
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            return out


def test_cycle_alerts_once_and_persists(env):
    tmp, sas, logsock = env
    cfg = config.load(str(tmp / "cfg.yaml"))
    d = Daemon(cfg, sender=SyslogSender(cfg.alerts.syslog_socket, tag="s2s-agent"))
    d.cycle()
    assert [t["health"] for t in d.tunnels] == ["UP"]
    assert received(logsock) == []  # first UP is not news
    sas.write_text("")  # charon lost the SA
    with open(tmp / "ipsec.log", "a") as fh:
        fh.write(
            "Nov 26 22:48:41 pfsense charon[77]: 09[IKE] <con1|1> giving up after 3 retransmits\n"
        )
    d.cycle()
    d.cycle()
    [msg] = received(logsock)
    assert msg.startswith("<27>")  # daemon.err
    assert "s2s-agent[" in msg
    assert (
        "tunnel=hq ike=con1 health=DOWN previous=UP reasons=ike_sa_missing,dpd_giveup event=transition"
        in msg
    )
    state = json.loads((tmp / "state" / "state.json").read_text())
    assert state["status"]["tunnels"][0]["health"] == "DOWN"
    assert stat.S_IMODE(os.stat(tmp / "state" / "state.json").st_mode) == 0o600
    # a new daemon remembers the alert: no second DOWN line after a restart
    d2 = Daemon(config.load(str(tmp / "cfg.yaml")), sender=SyslogSender(cfg.alerts.syslog_socket))
    d2.cycle()
    assert received(logsock) == []


def test_charon_gone_is_unknown_with_cause(env):
    tmp, _sas, _ = env
    cfg = config.load(str(tmp / "cfg.yaml"))
    os.unlink(cfg.strongswan.swanctl)
    d = Daemon(cfg, observer=Observer(cfg), sender=SyslogSender(cfg.alerts.syslog_socket))
    d.cycle()
    t = d.tunnels[0]
    assert (t["health"], t["reasons"]) == ("UNKNOWN", ["sa_source_error"])
    assert "command not found" in t["error"]


def wait_datagram(sock, needle, timeout=10):
    """The first syslog line containing ``needle`` (a real condition, not a sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = sock.recv(4096).decode()
        except TimeoutError:
            continue
        if needle in msg:
            return msg
    raise AssertionError(f"no syslog line with {needle!r} within {timeout}s")


def cli(*args, check=True):
    return subprocess.run(
        [sys.executable, "-m", "s2s_agent", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=check,
    )


def wait_status(cfgpath, pred, timeout=15):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        r = cli("status", "--json", "-c", cfgpath, check=False)
        if r.returncode == 0:
            last = json.loads(r.stdout)
            if pred(last):
                return last
        time.sleep(0.2)
    raise AssertionError(f"status never matched; last: {last}")


def test_daemon_process_status_reload_and_stop(env):
    tmp, sas, logsock = env
    cfgpath = str(tmp / "cfg.yaml")
    proc = subprocess.Popen(
        [sys.executable, "-m", "s2s_agent", "run", "-c", cfgpath], stderr=subprocess.PIPE, text=True
    )
    try:
        doc = wait_status(cfgpath, lambda d: d["tunnels"][0]["health"] == "UP")
        assert doc["source"] == "daemon" and doc["agent"]["sa_source"] == "swanctl"
        assert stat.S_IMODE(os.stat(tmp / "ctl.sock").st_mode) == 0o600
        table = cli("status", "-c", cfgpath).stdout
        assert "hq" in table and "con1=ESTABLISHED" in table
        r = cli("check", "-c", cfgpath, check=False)
        assert r.returncode == 0 and r.stdout.startswith("S2S OK - hq UP |")
        assert 's2s_tunnel_up{tunnel="hq",ike="con1"} 1' in cli("metrics", "-c", cfgpath).stdout

        # SIGHUP with a broken config: keeps running with the old one, and says why
        good = Path(cfgpath).read_text()
        Path(cfgpath).write_text(good + "bogus_key: 1\n")
        received(logsock)  # forget earlier lines
        proc.send_signal(signal.SIGHUP)
        msg = wait_datagram(logsock, "event=reload_failed")
        assert "bogus_key" in msg
        assert proc.poll() is None
        assert control.request(str(tmp / "ctl.sock"), "ping", timeout=2) == {"pong": True}
        Path(cfgpath).write_text(good.replace("[con1]}", "[con1]}\n  - {name: second, ike: con2}"))
        proc.send_signal(signal.SIGHUP)
        doc = wait_status(cfgpath, lambda d: len(d["tunnels"]) == 2)
        assert doc["tunnels"][1]["health"] == "DOWN"

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not os.path.exists(tmp / "ctl.sock")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert "reload refused" in err and "bogus_key" in err
    r = cli("status", "-c", cfgpath, check=False)
    assert r.returncode == 1 and "NOT running" in r.stdout
    r = cli("status", "--json", "-c", cfgpath, check=False)
    assert json.loads(r.stdout)["source"] == "state_file"


def lock_free(state_dir) -> bool:
    try:
        runlock.acquire(str(state_dir)).release()
    except runlock.LockHeld:
        return False
    return True


def test_reload_moves_the_run_lock_with_agent_state_dir(env):
    """A reload that changes agent.state_dir takes the lock there before it lets the old
    one go; one another s2s-agent holds refuses the reload and keeps config and lock."""
    tmp, _sas, logsock = env
    cfgpath = tmp / "cfg.yaml"
    good = cfgpath.read_text()
    proc = subprocess.Popen(
        [sys.executable, "-m", "s2s_agent", "run", "-c", str(cfgpath)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_status(str(cfgpath), lambda d: d["tunnels"][0]["health"] == "UP")
        assert not lock_free(tmp / "state")
        held = runlock.acquire(str(tmp / "busy"))  # a one-shot remediate of that dir, say
        try:
            received(logsock)
            cfgpath.write_text(good.replace(f"{tmp}/state,", f"{tmp}/busy,"))
            proc.send_signal(signal.SIGHUP)
            msg = wait_datagram(logsock, "event=reload_failed")
            assert "cannot move agent.state_dir" in msg
            assert f"{tmp}/busy/s2s-agent.lock is held by pid {os.getpid()}" in msg
            assert not lock_free(tmp / "state")  # still the daemon's
        finally:
            held.release()
        assert not (tmp / "busy" / "state.json").exists()

        cfgpath.write_text(good.replace(f"{tmp}/state,", f"{tmp}/state2,"))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while not ((tmp / "state2" / "state.json").exists() and lock_free(tmp / "state")):
            assert time.monotonic() < deadline, "the lock never moved to agent.state_dir"
            time.sleep(0.1)
        assert not lock_free(tmp / "state2")
        saved = json.loads((tmp / "state2" / "state.json").read_text())
        assert saved["status"]["tunnels"][0]["name"] == "hq"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert lock_free(tmp / "state2")
    assert "moved from" in proc.stderr.read()


def test_invalid_config_exits_2_with_one_message(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("tunnels: [{ike: c, probe: {source: x, target: 10.0.0.1}}]\n")
    for cmd in ("run", "validate-config"):
        r = cli(cmd, "-c", str(p), check=False)
        assert r.returncode == 2
        assert r.stderr.strip().count("\n") == 0
        assert str(p) in r.stderr and "tunnels[0].probe.source" in r.stderr
    assert cli("validate-config", "-c", "etc/s2s-agent.yaml.sample").returncode == 0


def test_metrics_textfile_is_written_each_cycle(env):
    tmp, _sas, _ = env
    text = (
        (tmp / "cfg.yaml")
        .read_text()
        .replace("control_socket:", f"metrics_textfile: {tmp}/prom/s2s.prom, control_socket:")
    )
    (tmp / "cfg.yaml").write_text(text)
    (tmp / "prom").mkdir()
    cfg = config.load(str(tmp / "cfg.yaml"))
    d = Daemon(cfg, sender=SyslogSender(cfg.alerts.syslog_socket))
    d.cycle()
    prom = (tmp / "prom" / "s2s.prom").read_text()
    assert 's2s_tunnel_up{tunnel="hq",ike="con1"} 1' in prom
    assert stat.S_IMODE(os.stat(tmp / "prom" / "s2s.prom").st_mode) == 0o644


def test_remediate_dry_run_one_shot_without_daemon(env):
    """No daemon running: `remediate --dry-run` observes once here and prints the plan."""
    tmp, _sas, _ = env
    secret = tmp / "secret"
    secret.write_text("s")
    secret.chmod(0o600)
    text = (tmp / "cfg.yaml").read_text() + textwrap.dedent(f"""
        azure: {{tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47,
                 client_id: 11111111-2222-3333-4444-555555555555, client_secret_file: {secret},
                 subscription_id: 00000000-1111-2222-3333-444444444444, resource_group: rg,
                 local_network_gateway: lng}}
        wan: {{source: interface, interface: lo, allow_private: true}}
        remediation: {{enabled: true, local_backend: none}}
    """)
    (tmp / "cfg.yaml").write_text(text)
    r = cli("remediate", "--dry-run", "-c", str(tmp / "cfg.yaml"), check=False)
    assert r.returncode == 0, r.stderr
    assert "via one-shot (daemon not running)" in r.stdout
    assert "health UP" in r.stdout and "WAN IP 127.0.0.1" in r.stdout
    assert "no steps: nothing to do now" in r.stdout
    r = cli("remediate", "--dry-run", "-c", "etc/s2s-agent.yaml.sample", check=False)
    assert r.returncode == 1 and "disabled" in r.stdout
