"""`s2s-agent remediate`: the control `remediate` command and the one-shot mode (run lock,
shared write history, CARP role), without strongSwan: a fake swanctl, a fake Azure worker."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from s2s_agent import cli, config
from s2s_agent.core import runlock
from s2s_agent.daemon import Daemon
from s2s_agent.tell.control import ControlServer
from tests.helpers.fakes import FakeWorker

LAB = Path(__file__).resolve().parents[1] / "golden" / "lab"
OLD, NEW = "198.51.100.2", "127.0.0.1"  # the WAN interface is `lo`: its address is NEW


@pytest.fixture
def env(tmp_path, monkeypatch):
    # the tunnel is on a CARP VIP, so the agent observes the VIP's address (ha.wan_reader):
    # in-process tests see NEW there, as a subprocess does on `lo` (no carp0 on Linux)
    monkeypatch.setattr("s2s_agent.observe.ha.vip_wan_ip", lambda i, v, **kw: (NEW, ""))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    sas = tmp_path / "sas.txt"
    sas.write_text((LAB / "single" / "swanctl-list-sas.txt").read_text())
    swanctl = bindir / "swanctl"
    swanctl.write_text(f"#!/bin/sh\ncat '{sas}'\n")
    swanctl.chmod(0o755)
    secret = tmp_path / "secret"
    secret.write_text("s")
    secret.chmod(0o600)
    (tmp_path / "ipsec.log").write_text("")
    (tmp_path / "cfg.yaml").write_text(
        textwrap.dedent(f"""
        agent: {{interval: 1, state_dir: {tmp_path}/state, control_socket: {tmp_path}/ctl.sock}}
        strongswan: {{source: swanctl, swanctl: {swanctl}, log_file: {tmp_path}/ipsec.log}}
        alerts: {{syslog_socket: {tmp_path}/nosyslog.sock}}
        tunnels: [{{name: hq, ike: con1, children: [con1]}}]
        azure: {{tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47,
                 client_id: 11111111-2222-3333-4444-555555555555, client_secret_file: {secret},
                 subscription_id: 00000000-1111-2222-3333-444444444444, resource_group: rg,
                 local_network_gateway: lng,
                 authority: "https://127.0.0.1:9/", arm_endpoint: "https://127.0.0.1:9/"}}
        wan: {{source: interface, interface: lo, allow_private: true, hold_seconds: 0.2, hold_count: 2}}
        remediation: {{enabled: true, local_backend: none, max_azure_writes_per_hour: 2,
                       carp_interface: carp0, carp_vhid: 1}}
    """)
    )
    # the state a daemon left: it applied OLD, two Azure writes are recent
    (tmp_path / "state").mkdir()
    return tmp_path


def save_state(tmp, writes):
    doc = {
        "version": 1,
        "saved": 0,
        "status": {},
        "alerts": {},
        "remediation": {"applied_ip": OLD, "wan_ip": OLD, "lng_ip": OLD, "azure_writes": writes},
    }
    (tmp / "state" / "state.json").write_text(json.dumps(doc))


def daemon_with_fakes(tmp, worker):
    d = Daemon(config.load(str(tmp / "cfg.yaml")))
    rem = d.remedy_loop.remedy
    rem.worker.worker = worker  # behind the write gate, as the real worker is
    rem.actions.update(
        {
            "apply_local_id": lambda s, w: "id",
            "restart_ike": lambda s, w: "restarted",
            "initiate_child": lambda s, w: "initiated",
            "verify": lambda s, w: "ok",
        }
    )
    return d


def request(server, command):
    return server.handle(json.dumps({"version": 1, "command": command}).encode())


def test_control_remediate_runs_the_heal_through_the_gate(env, monkeypatch):
    import selectors
    import time

    monkeypatch.setattr("s2s_agent.remedyloop.carp_role", lambda i, v: ("master", "MASTER"))
    save_state(env, [time.time() - 100, time.time() - 50])  # the limit (2) is reached
    worker = FakeWorker(ip=OLD)
    d = daemon_with_fakes(env, worker)
    d.cycle()  # observes UP, reads the WAN IP (pending), the role
    d.remedy_loop.wan.next_poll = 0
    time.sleep(0.25)
    d.remedy_loop.wan.poll()  # confirmed: OLD -> NEW
    server = ControlServer(
        str(env / "ctl.sock"),
        {"plan": d._plan, "remediate": d._remediate},
        selectors.DefaultSelector(),
    )
    try:
        reply = request(server, "remediate")
        assert reply["ok"], reply
        out = reply["data"]
        assert out["started"] is False and "write limit" in (out["plan"]["blocked"] or ""), (
            json.dumps(out)
        )
        assert worker.calls == []
        # an hour later the oldest write has aged out: the heal runs and its write is counted
        d.remedy_loop.remedy.history.azure_writes[:] = [time.time() - 3700, time.time() - 50]
        out = request(server, "remediate")["data"]
        assert out["started"] is True and out["plan"]["steps"][0] == {
            "kind": "update_lng",
            "ip": NEW,
        }
        d.remedy_loop.remedy.wait(10)
        assert ("update-lng", NEW) in worker.calls and worker.writes == 1
        assert len(d.remedy_loop.remedy.history.writes_last_hour(time.time())) == 2
        out = request(server, "remediate")["data"]  # healed: nothing more to do
        assert out["started"] is False and out["plan"]["steps"] == []
    finally:
        server.close()


def test_one_shot_on_a_carp_backup_does_not_act(env, monkeypatch):
    save_state(env, [])
    roles = {"carp_role": ("backup", "CARP vhid 1 on carp0 is BACKUP: observing only")}
    for where in ("s2s_agent.observe.ha.carp_role", "s2s_agent.remedyloop.carp_role"):
        monkeypatch.setattr(where, lambda i, v: roles["carp_role"])
    worker = FakeWorker(ip=OLD)
    monkeypatch.setattr("s2s_agent.remedyloop.AzureWorker", lambda path, **kw: worker)
    cfg = config.load(str(env / "cfg.yaml"))
    out = cli._remediate_locally(cfg, dry_run=False)
    assert out["role"] == "backup" and not out.get("started") and "BACKUP" in out["plan"]["reason"]
    assert worker.calls == []
    # the same node as MASTER (after a failover) heals, once the WAN change is confirmed
    roles["carp_role"] = ("master", "CARP vhid 1 on carp0 is MASTER")
    out = cli._remediate_locally(cfg, dry_run=True)
    assert out["wan_ip"] == NEW and [s["kind"] for s in out["plan"]["steps"]][0] == "update_lng"


def test_one_shot_refuses_beside_a_live_daemon_that_does_not_answer(env):
    """The daemon holds the run lock but its socket is gone / it does not answer (SIGSTOP,
    overload): `remediate` must not act beside it (it did: any socket error = "not running")."""
    save_state(env, [])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from s2s_agent.core import runlock; "
            f"runlock.acquire({str(env / 'state')!r}); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = (env / "state" / "state.json").read_text()
        r = subprocess.run(
            [sys.executable, "-m", "s2s_agent", "remediate", "-c", str(env / "cfg.yaml")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"pid {holder.pid}" in r.stderr and "refusing to remediate" in r.stderr
        assert "did not answer" in r.stderr and "s2s-agent.lock" in r.stderr
        assert (env / "state" / "state.json").read_text() == before  # nothing ran, nothing saved
        with pytest.raises(runlock.LockHeld):  # a second daemon would not start either
            runlock.acquire(str(env / "state"))
    finally:
        holder.kill()
        holder.wait()
    # the holder died: its lock file is left behind, but a dead process holds no lock
    assert (env / "state" / "s2s-agent.lock").exists()
    r = subprocess.run(
        [sys.executable, "-m", "s2s_agent", "remediate", "--dry-run", "-c", str(env / "cfg.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "via one-shot (daemon not running)" in r.stdout, r.stderr


def test_one_shot_holds_the_lock_while_it_runs(env, monkeypatch):
    seen = {}

    def fake_local(cfg, dry_run):
        with pytest.raises(runlock.LockHeld) as exc:
            runlock.acquire(cfg.agent.state_dir)
        seen["held"] = str(exc.value)
        return {"enabled": True, "plan": {"steps": []}}

    monkeypatch.setattr(cli, "_remediate_locally", fake_local)
    assert cli.main(["remediate", "--json", "-c", str(env / "cfg.yaml")]) == 0
    assert "is held by pid" in seen["held"]
    runlock.acquire(str(env / "state")).release()  # released afterwards


def test_a_daemon_does_not_start_while_another_holds_the_lock(env, monkeypatch):
    from s2s_agent.core.errors import StateError

    monkeypatch.setattr(runlock, "START_WAIT", 0.3)
    save_state(env, [])
    with runlock.acquire(str(env / "state")):  # a one-shot run (or another daemon)
        d = Daemon(config.load(str(env / "cfg.yaml")))
        with pytest.raises(StateError, match="cannot start the daemon: .* is held by pid"):
            d.run()
        assert not (env / "ctl.sock").exists()  # it never listened
        d.remedy_loop.close()


def test_one_shot_write_is_in_the_history_the_daemon_reads(env, monkeypatch):
    """The one-shot heal writes the LNG through the gate and saves the write in state.json:
    the next daemon counts it (it did not: the daemon's counter never saw one-shot writes)."""
    import time

    from s2s_agent.act import executor

    save_state(env, [time.time() - 100])  # one write this hour; the limit is 2
    for where in ("s2s_agent.observe.ha.carp_role", "s2s_agent.remedyloop.carp_role"):
        monkeypatch.setattr(where, lambda i, v: ("master", "MASTER"))
    worker = FakeWorker(ip=OLD)
    monkeypatch.setattr("s2s_agent.remedyloop.AzureWorker", lambda path, **kw: worker)
    for name in ("_restart_ike", "_initiate_child", "_verify"):
        monkeypatch.setattr(executor.Remediator, name, lambda self, s, w: "ok")
    cfg = config.load(str(env / "cfg.yaml"))
    out = cli._remediate_locally(cfg, dry_run=False)
    assert out["started"] and out["record"]["ok"] and worker.writes == 1
    saved = json.loads((env / "state" / "state.json").read_text())["remediation"]
    assert len(saved["azure_writes"]) == 2 and saved["applied_ip"] == NEW
    d = Daemon(config.load(str(env / "cfg.yaml")))  # the daemon that starts next
    assert len(d.remedy_loop.remedy.history.writes_last_hour(time.time())) == 2
    d.remedy_loop.close()
