"""The executor and the daemon's remediation loop, with a fake Azure worker and fake local
actions (the real ones run in the lab tests)."""

import textwrap

import pytest

from s2s_agent import config
from s2s_agent.act.azureworker import AzureCallError
from s2s_agent.act.executor import Remediator
from s2s_agent.decide.plan import Plan, Step
from tests.helpers.fakes import REMEDIATION_CFG, FakeWorker


@pytest.fixture
def cfg(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent(REMEDIATION_CFG))
    return config.load(str(p))


def make(cfg, worker, clock, notes):
    local = {
        "apply_local_id": lambda s, w: f"id -> {s.ip}",
        "restart_ike": lambda s, w: "restarted",
        "initiate_child": lambda s, w: "initiated",
        "verify": lambda s, w: "ping ok",
    }
    return Remediator(
        cfg,
        worker=worker,
        actions=local,
        clock=lambda: clock[0],
        notify=lambda sev, msg: notes.append((sev, msg)),
    )


def test_wan_change_heals_and_is_remembered(cfg):
    w, clock, notes = FakeWorker(), [1000.0], []
    r = make(cfg, w, clock, notes)
    assert r.decide("UP", "198.51.100.2", "standalone").steps == ()
    assert r.applied_ip == "198.51.100.2"  # a working tunnel on this IP is the applied state
    plan = r.decide("DOWN", "192.0.2.77", "standalone")
    rec = r.execute(plan, "192.0.2.77")
    assert rec.ok and [s.kind for s in rec.steps] == [
        "update_lng",
        "apply_local_id",
        "restart_ike",
        "verify",
    ]
    assert w.ip == "192.0.2.77" and r.applied_ip == "192.0.2.77"
    assert notes[-1][0] == "notice" and "event=remediated" in notes[-1][1]
    # a restarted agent (crash after success) has nothing left to do
    r2 = make(cfg, w, clock, notes)
    r2.load(r.to_dict())
    assert r2.decide("UP", "192.0.2.77", "standalone").steps == ()


def test_crash_after_azure_write_converges_without_a_second_write(cfg):
    w, clock, notes = FakeWorker(), [1000.0], []
    r = make(cfg, w, clock, notes)
    r.decide("UP", "198.51.100.2", "standalone")
    r.actions["apply_local_id"] = lambda s, wan: (_ for _ in ()).throw(SystemExit("killed"))
    with pytest.raises(SystemExit):
        r.execute(r.decide("DOWN", "192.0.2.77", "standalone"), "192.0.2.77")
    saved = r.to_dict()
    assert saved["applied_ip"] == "198.51.100.2" and w.writes == 1
    r2 = make(cfg, w, clock, notes)  # the agent restarts and re-reads the world
    r2.load(saved)
    clock[0] += 60
    rec = r2.execute(r2.decide("DOWN", "192.0.2.77", "standalone"), "192.0.2.77")
    assert rec.ok and r2.applied_ip == "192.0.2.77"
    assert w.writes == 1  # the LNG already had the IP: no second write


def test_azure_failure_alerts_backs_off_and_recovers(cfg):
    w, clock, notes = FakeWorker(), [1000.0], []
    r = make(cfg, w, clock, notes)
    r.decide("UP", "198.51.100.2", "standalone")
    w.fail = 1
    rec = r.execute(r.decide("DOWN", "192.0.2.77", "standalone"), "192.0.2.77")
    assert rec.ok is False and [s.kind for s in rec.steps] == ["update_lng"]
    assert "step=update_lng" in notes[-1][1] and "500" in notes[-1][1] and notes[-1][0] == "err"
    clock[0] += 1
    p = r.decide("DOWN", "192.0.2.77", "standalone")
    assert p.steps == () and p.blocked and p.wait_until == 1010.0
    clock[0] = 1010.0
    assert r.execute(r.decide("DOWN", "192.0.2.77", "standalone"), "192.0.2.77").ok


def test_flapping_wan_never_exceeds_the_write_limit(cfg):
    w, clock, notes = FakeWorker(), [0.0], []
    r = make(cfg, w, clock, notes)
    r.decide("UP", "198.51.100.2", "standalone")
    blocked = 0
    for i in range(40):  # the IP flaps every minute for 40 minutes
        clock[0] += 60
        ip = ("192.0.2.77", "198.51.100.2")[i % 2]
        plan = r.decide("DOWN", ip, "standalone")
        blocked += "write limit" in (plan.blocked or "")
        if plan.steps:
            r.execute(plan, ip)
    assert w.writes == 3  # the limit of the config, not one more
    assert blocked >= 15  # every flap away from the applied IP after the third write


def test_backup_node_only_observes(cfg):
    w, clock, notes = FakeWorker(), [1000.0], []
    r = make(cfg, w, clock, notes)
    r.decide("UP", "198.51.100.2", "standalone")
    p = r.decide("DOWN", "192.0.2.77", "backup")
    assert p.steps == () and "BACKUP" in p.reason and w.calls == []


def test_check_lng_heals_a_mismatch_found_by_the_ladder(cfg):
    w, clock, notes = FakeWorker(ip="203.0.113.99"), [1000.0], []
    r = make(cfg, w, clock, notes)
    r.applied_ip = "192.0.2.77"
    rec = r.execute(
        Plan((Step("check_lng", "192.0.2.77"),), "tunnel DOWN, attempt 3"), "192.0.2.77"
    )
    assert [s.kind for s in rec.steps] == [
        "check_lng",
        "update_lng",
        "apply_local_id",
        "restart_ike",
        "verify",
    ]
    assert rec.ok and w.ip == "192.0.2.77"


def test_no_secret_or_state_junk_breaks_load(cfg):
    r = make(cfg, FakeWorker(), [0.0], [])
    r.load({"applied_ip": "1.2.3.4", "attempts": "garbage"})
    assert r.applied_ip == "1.2.3.4"


def test_remedy_loop_on_a_carp_backup_only_observes(cfg, monkeypatch):
    from s2s_agent import remedyloop

    ips = iter(["198.51.100.2", "192.0.2.77", "192.0.2.77", "192.0.2.77"])
    monkeypatch.setattr(remedyloop, "open_events", lambda iface: None)
    role = ["backup", "CARP vhid 1 on igb0 is BACKUP: observing only"]
    monkeypatch.setattr(remedyloop, "carp_role", lambda i, v: tuple(role))
    worker = FakeWorker()
    loop = remedyloop.RemedyLoop(cfg, notify=lambda s, m: None, worker=worker)
    loop.wan.read = lambda settings: (next(ips), "")  # the WAN interface's address, in turn
    loop.wan.tracker.hold_seconds, loop.wan.tracker.hold_count = 0, 1
    tunnels = [{"name": "hq", "health": "UP"}]
    loop.tick(tunnels)  # first WAN IP seen, tunnel UP: the applied state
    loop.wan.next_poll = 0
    tunnels = [{"name": "hq", "health": "DOWN"}]
    loop.tick(tunnels)  # the WAN IP changed, but this node is BACKUP
    assert not loop.remedy.busy and worker.calls == []
    rem = loop.status()["remediation"]
    assert rem["role"] == "backup" and "BACKUP" in rem["plan"]["reason"]
    role[:] = ["master", "CARP vhid 1 on igb0 is MASTER"]
    loop._role_next = 0
    loop.wan.next_poll = 0
    loop.tick(tunnels)  # failover: now this node acts
    loop.remedy.wait(5)
    assert ("update-lng", "192.0.2.77") in worker.calls


def test_remedy_loop_of_a_carp_tunnel_observes_the_vip_address(cfg, monkeypatch):
    """remediation.carp_* set and wan.source interface: the WAN monitor reads the VIP."""
    import dataclasses

    from s2s_agent import remedyloop
    from s2s_agent.observe import ha

    monkeypatch.setattr(remedyloop, "open_events", lambda iface: None)
    seen = []
    monkeypatch.setattr(
        ha, "vip_wan_ip", lambda i, v, **kw: seen.append((i, v)) or ("192.0.2.10", "")
    )
    carp = dataclasses.replace(
        cfg, remediation=dataclasses.replace(cfg.remediation, carp_interface="igb0", carp_vhid=1)
    )
    loop = remedyloop.RemedyLoop(carp, notify=lambda s, m: None, worker=FakeWorker())
    assert loop.wan.read(carp.wan) == ("192.0.2.10", "") and seen == [("igb0", 1)]
    plain = remedyloop.RemedyLoop(cfg, notify=lambda s, m: None, worker=FakeWorker())
    assert plain.wan.read is remedyloop.read_wan_ip


def test_ladder_check_lng_cannot_bypass_the_write_limit(cfg):
    """The limit is 3: three writes this hour, then the ladder's check_lng finds a stale LNG.
    The heal it starts must not PUT (it did on the old executor: 6 PUTs with a limit of 2)."""
    w, clock, notes = FakeWorker(ip="203.0.113.99"), [5000.0], []
    r = make(cfg, w, clock, notes)
    r.applied_ip = "192.0.2.77"
    r.history.azure_writes = [4000.0, 4100.0, 4200.0]
    rec = r.execute(
        Plan((Step("check_lng", "192.0.2.77"),), "tunnel DOWN, attempt 3"), "192.0.2.77"
    )
    assert [s.kind for s in rec.steps] == ["check_lng", "update_lng"] and rec.ok is False
    assert (
        "write limit" in rec.steps[1].detail and "max_azure_writes_per_hour" in rec.steps[1].detail
    )
    assert w.writes == 0 and ("update-lng", "192.0.2.77") not in w.calls
    assert len(r.history.azure_writes) == 3
    clock[0] = 4000.0 + 3600  # the oldest write ages out: one slot
    rec = r.execute(
        Plan((Step("check_lng", "192.0.2.77"),), "tunnel DOWN, attempt 4"), "192.0.2.77"
    )
    assert rec.ok and w.writes == 1 and len(r.history.writes_last_hour(clock[0])) == 3


def test_reset_connection_goes_through_the_gate(cfg):
    w, clock, notes = FakeWorker(), [5000.0], []
    r = make(cfg, w, clock, notes)
    r.history.azure_writes = [4000.0, 4100.0, 4200.0]
    rec = r.execute(Plan((Step("reset_connection"),), "tunnel DOWN, attempt 4"), None)
    assert rec.ok is False and "write limit" in rec.steps[0].detail and w.calls == []
    r.history.azure_writes = []
    assert r.execute(Plan((Step("reset_connection"),), "tunnel DOWN, attempt 4"), None).ok
    assert r.history.azure_writes == [5000.0]


def test_gate_counts_maybe_writes_and_gives_back_certain_non_writes(cfg):
    from s2s_agent.act.writegate import WriteGate

    class Flaky(FakeWorker):
        def __init__(self, kind):
            super().__init__()
            self.kind = kind

        def call(self, op, arg=None, *, deadline=120.0):
            raise AzureCallError(self.kind, "failed")

    clock = [100.0]
    for kind, kept in (
        ("AzureTimeoutError", 1),
        ("WorkerError", 1),
        ("AzureError", 1),
        ("AzureAuthError", 0),
        ("AzureForbiddenError", 0),
        ("ConfigError", 0),
    ):
        from s2s_agent.decide.plan import History

        h = History()
        gate = WriteGate(Flaky(kind), h, lambda: 3, lambda: clock[0])
        with pytest.raises(AzureCallError):
            gate.call("update-lng", "192.0.2.77")
        assert len(h.azure_writes) == kept, kind

    class NoPutSent(FakeWorker):  # the worker timed out at the first read, before any PUT
        def call(self, op, arg=None, *, deadline=120.0):
            raise AzureCallError("AzureTimeoutError", "gave up reading", wrote=False)

    h = History()
    with pytest.raises(AzureCallError):
        WriteGate(NoPutSent(), h, lambda: 3, lambda: clock[0]).call("update-lng", "192.0.2.77")
    assert h.azure_writes == []
    h = History()
    gate = WriteGate(FakeWorker(ip="192.0.2.77"), h, lambda: 3, lambda: clock[0])
    assert gate.call("update-lng", "192.0.2.77")["changed"] is False and h.azure_writes == []
    assert gate.call("get-lng") == {"ip": "192.0.2.77"} and h.azure_writes == []


def test_the_loop_reads_the_observers_tunnels_and_never_writes_them(cfg, monkeypatch):
    """The act side returns records (RemedyLoop.status); the daemon merges them."""
    import copy

    from s2s_agent import remedyloop
    from s2s_agent.daemon import Daemon

    monkeypatch.setattr(remedyloop, "open_events", lambda iface: None)
    loop = remedyloop.RemedyLoop(cfg, notify=lambda s, m: None, worker=FakeWorker())
    loop.wan.read = lambda settings: ("198.51.100.2", "")
    loop.wan.tracker.hold_seconds, loop.wan.tracker.hold_count = 0, 1
    tunnels = [{"name": "hq", "health": "UP", "reasons": []}]
    before = copy.deepcopy(tunnels)
    loop.tick(tunnels)
    assert tunnels == before  # the old loop wrote "remediation", "remediations", "azure" here
    rec = loop.status()
    assert rec["remediation"]["applied_ip"] == "198.51.100.2" and rec["remediations"] == []
    d = Daemon.__new__(Daemon)
    d.remedy_loop, d.tunnels = loop, tunnels
    merged = d._merged_tunnels()
    assert merged[0]["remediation"] == rec["remediation"] and "remediation" not in tunnels[0]
