"""``s2s-agent remediate`` (one-shot, no daemon) with several Azure tunnels: every LNG is
planned and written through its own write gate, the limit holds per LNG from the daemon's
state.json, and the run's writes are saved per LNG for the daemon that starts next."""

from __future__ import annotations

import json
import textwrap
import time

from s2s_agent import cli, config
from s2s_agent.act import multiexec
from s2s_agent.daemon import Daemon

SUB_A = "00000000-1111-2222-3333-444444444444"
SUB_B = "00000000-1111-2222-3333-555555555555"
OLD, NEW = "198.51.100.2", "127.0.0.1"  # the WAN interface is `lo`: its address is NEW


class Worker:
    def __init__(self, tunnel, log):
        self.tunnel, self.log = tunnel, log

    def call(self, op, arg=None, *, deadline=120.0):
        self.log.append((self.tunnel, op, arg))
        if op == "get-lng":
            return {"ip": OLD}
        return {"changed": True, "old_ip": OLD, "new_ip": arg, "seconds": 0.01}


def write(tmp):
    for p in ("a", "b"):
        (tmp / f"{p}.secret").write_text("s")
        (tmp / f"{p}.secret").chmod(0o600)
    (tmp / "ipsec.log").write_text("")
    (tmp / "state").mkdir(exist_ok=True)
    (tmp / "cfg.yaml").write_text(
        textwrap.dedent(f"""
        agent: {{interval: 1, state_dir: {tmp}/state, control_socket: {tmp}/ctl.sock}}
        strongswan: {{source: swanctl, swanctl: /bin/true, log_file: {tmp}/ipsec.log}}
        alerts: {{syslog_socket: {tmp}/nosyslog.sock}}
        wan: {{source: interface, interface: lo, allow_private: true, hold_seconds: 0,
               hold_count: 1}}
        remediation: {{enabled: true, local_backend: none, max_azure_writes_per_hour: 2,
                       azure_status_interval: 0}}
        azure_profiles:
          a: {{tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47,
               client_id: 11111111-2222-3333-4444-555555555555, client_secret_file: {tmp}/a.secret}}
          b: {{tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47,
               client_id: 11111111-2222-3333-4444-555555555556, client_secret_file: {tmp}/b.secret}}
        tunnels:
          - {{name: con1, ike: con1, azure: {{profile: a, subscription_id: {SUB_A},
              resource_group: rg, local_network_gateway: lng-a}}}}
          - {{name: con4, ike: con4, azure: {{profile: a, subscription_id: {SUB_A},
              resource_group: rg, local_network_gateway: lng-a}}}}
          - {{name: con2, ike: con2, azure: {{profile: b, subscription_id: {SUB_B},
              resource_group: rg, local_network_gateway: lng-b}}}}
        """)
    )


def test_one_shot_with_several_tunnels_holds_the_write_limit_per_lng(tmp_path, monkeypatch):
    write(tmp_path)
    calls: list = []
    monkeypatch.setattr(
        multiexec, "AzureWorker", lambda path, tunnel=None, lng=None: Worker(tunnel, calls)
    )
    monkeypatch.setattr(multiexec.MultiRemediator, "_apply_local_ids", lambda self, items: "ok")
    monkeypatch.setattr(
        multiexec.MultiRemediator, "_tunnel_step", lambda self, kind: lambda t, s: "ok"
    )
    # the daemon's state: both LNGs applied OLD; lng-b has used its 2 writes this hour
    d = Daemon(config.load(str(tmp_path / "cfg.yaml")))
    now = time.time()
    for r in d.remedy_loop.multi.lngs.values():
        r.applied_ip = r.lng_ip = OLD
        if r.cfg.azure.local_network_gateway == "lng-b":
            r.history.azure_writes[:] = [now - 100, now - 50]
    d.remedy_loop.wan.tracker.current = OLD
    d.persist(now, force=True)
    d.remedy_loop.close()

    out = cli._remediate_locally(config.load(str(tmp_path / "cfg.yaml")), dry_run=False)
    assert out["started"] is True
    puts = [(t, ip) for t, op, ip in calls if op == "update-lng"]
    assert puts == [("con1", NEW)]  # lng-a written once; lng-b at its limit: not sent
    lngs = {x["lng"]: x for x in out["lngs"]}
    assert "write limit" in (lngs["lng-b"]["plan"]["blocked"] or "")
    saved = json.loads((tmp_path / "state" / "state.json").read_text())["remediation"]["lngs"]
    by_name = {v["lng"]: v for v in saved.values()}
    assert len(by_name["lng-a"]["azure_writes"]) == 1 and by_name["lng-a"]["applied_ip"] == NEW
    assert len(by_name["lng-b"]["azure_writes"]) == 2 and by_name["lng-b"]["applied_ip"] == OLD
    # a second one-shot right away: lng-a is healed, lng-b still blocked; no new write
    calls.clear()
    out = cli._remediate_locally(config.load(str(tmp_path / "cfg.yaml")), dry_run=False)
    assert [c for c in calls if c[1] == "update-lng"] == []


def test_one_shot_reads_every_wan_source_not_only_the_remediated_tunnels(tmp_path, monkeypatch):
    """con2 follows another WAN source: the one-shot must read it too (old code read only
    the remediated tunnel's source, so lng-b was never planned)."""
    from s2s_agent import multiloop

    write(tmp_path)
    text = (tmp_path / "cfg.yaml").read_text()
    text = text.replace(
        "local_network_gateway: lng-b}}",
        "local_network_gateway: lng-b}, wan: {source: interface, interface: wan9}}",
    )
    (tmp_path / "cfg.yaml").write_text(text)
    reads = []

    made = multiloop.wan_monitor

    def monitor(*args, **kw):
        def read(s, **_kw):
            reads.append(s.interface)
            return NEW, ""

        m = made(*args, **kw)
        m.read = read
        return m

    monkeypatch.setattr(multiloop, "wan_monitor", monitor)
    calls: list = []
    monkeypatch.setattr(
        multiexec, "AzureWorker", lambda path, tunnel=None, lng=None: Worker(tunnel, calls)
    )
    monkeypatch.setattr(multiexec.MultiRemediator, "_apply_local_ids", lambda self, items: "ok")
    monkeypatch.setattr(
        multiexec.MultiRemediator, "_tunnel_step", lambda self, kind: lambda t, s: "ok"
    )
    d = Daemon(config.load(str(tmp_path / "cfg.yaml")))
    for r in d.remedy_loop.multi.lngs.values():
        r.applied_ip = r.lng_ip = OLD
    for m in d.remedy_loop.monitors.values():
        m.tracker.current = OLD
    d.persist(time.time(), force=True)
    d.remedy_loop.close()

    out = cli._remediate_locally(config.load(str(tmp_path / "cfg.yaml")), dry_run=False)
    assert "wan9" in reads
    assert out["started"] is True
    puts = sorted((t, ip) for t, op, ip in calls if op == "update-lng")
    assert puts == [("con1", NEW), ("con2", NEW)]
