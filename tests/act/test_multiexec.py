"""The multi-tunnel executor: parallel per-LNG updates through per-LNG write gates, one
local write for every tunnel, restart + verify each, per-LNG records/alerts/backoff."""

import threading

from s2s_agent import config
from s2s_agent.act.azureworker import AzureCallError
from s2s_agent.act.multiexec import MultiRemediator, lng_groups

SUB_A = "00000000-1111-2222-3333-444444444444"
SUB_B = "00000000-1111-2222-3333-555555555555"
OLD, NEW = "198.51.100.2", "198.51.100.9"


def cfg(limit=6):
    prof = {
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret_file": "/s/x.secret",
    }

    def t(ike, lng, sub, profile):
        return {
            "ike": ike,
            "wan": {"source": "interface", "interface": "wan0"},
            "azure": {
                "profile": profile,
                "subscription_id": sub,
                "resource_group": "rg",
                "local_network_gateway": lng,
                "connection": f"cn-{lng}",
            },
        }

    data = {
        "azure_profiles": {"a": prof, "b": {**prof, "client_secret_file": "/s/y.secret"}},
        "tunnels": [
            t("con1", "lng-pfsense", SUB_A, "a"),
            t("con4", "lng-pfsense", SUB_A, "a"),
            t("con2", "lng-pfsense-b", SUB_B, "b"),
        ],
        "remediation": {
            "enabled": True,
            "local_backend": "none",
            "max_azure_writes_per_hour": limit,
        },
    }
    return config.parse(data, "c.yaml")


class FakeWorker:
    def __init__(self, name, log, fail=False, barrier=None):
        self.name, self.log, self.fail, self.barrier = name, log, fail, barrier

    def call(self, op, arg=None, *, deadline=0.0):
        self.log.append((self.name, op, arg, threading.current_thread().name))
        if self.barrier is not None and op == "update-lng":
            self.barrier.wait()  # both PUTs must be in flight at once (BrokenBarrierError if not)
        if self.fail and op == "update-lng":
            raise AzureCallError("AzureServerError", "500 from ARM", status=500)
        return {"changed": True, "old_ip": OLD}


def make(c, fail=(), barrier=None):
    calls, local, alerts, tsteps = [], [], [], []
    m = MultiRemediator(
        c,
        workers=lambda name: FakeWorker(name, calls, name in fail, barrier),
        actions={
            "apply_local_ids": lambda items: (
                local.append([(t.ike, n) for t, _o, n in items]) or "ok"
            ),
            "restart_ike": lambda t, s: tsteps.append((t.ike, "restart")) or "restarted",
            "verify": lambda t, s: tsteps.append((t.ike, "verify")) or "answered",
        },
        notify=lambda sev, msg: alerts.append((sev, msg)),
    )
    for r in m.lngs.values():
        r.applied_ip = r.lng_ip = OLD
    return m, calls, local, alerts, tsteps


HEALTH = {"con1": "DOWN", "con4": "DOWN", "con2": "DOWN"}
WAN = {"con1": NEW, "con4": NEW, "con2": NEW}


def test_groups_follow_the_lng_key():
    groups = lng_groups(cfg())
    assert [[t.ike for t in ts] for ts in groups.values()] == [["con1", "con4"], ["con2"]]


def test_one_wan_change_one_put_per_lng_in_parallel_one_local_write_every_tunnel_verified():
    m, calls, local, alerts, tsteps = make(cfg(), barrier=threading.Barrier(2, timeout=10))
    recs = m.execute(m.decide(HEALTH, WAN, "standalone"))
    puts = [c for c in calls if c[1] == "update-lng"]
    assert sorted((n, ip) for n, _, ip, _ in puts) == [("con1", NEW), ("con2", NEW)]
    assert puts[0][3] != puts[1][3]  # each LNG on its own thread ...
    assert local == [[("con1", NEW), ("con4", NEW), ("con2", NEW)]]  # ONE local write
    assert sorted(tsteps) == sorted(
        [(i, k) for i in ("con1", "con4", "con2") for k in ("restart", "verify")]
    )
    assert all(r.ok for r in recs.values())
    assert all(r.applied_ip == NEW for r in m.lngs.values())
    assert [s for s, _ in alerts] == ["notice", "notice"]
    assert {len(m.tunnel_records[n]) for n in ("con1", "con4", "con2")} == {1}


def test_a_failing_lng_does_not_stop_the_other_and_backs_off_and_alerts():
    m, calls, local, alerts, tsteps = make(cfg(), fail=("con2",))
    recs = m.execute(m.decide(HEALTH, WAN, "standalone"))
    a, b = (m.lngs[k] for k in m.groups)
    assert recs[next(iter(m.groups))].ok and a.applied_ip == NEW
    assert recs[list(m.groups)[1]].ok is False and b.applied_ip == OLD
    assert local == [[("con1", NEW), ("con4", NEW)]]  # con2 does not follow a failed LNG
    assert ("con2", "restart") not in tsteps
    assert any(s == "err" and "lng=lng-pfsense-b" in msg for s, msg in alerts)
    # the next decision right away: LNG b backs off, LNG a is done
    da, db = m.decide({"con1": "UP", "con4": "UP", "con2": "DOWN"}, WAN, "standalone")
    assert not da.steps and not db.steps and db.plan.blocked and db.plan.wait_until


def test_the_write_limit_is_counted_per_lng_by_its_own_gate():
    m, calls, *_ = make(cfg(limit=1), fail=("con2",))
    m.execute(m.decide(HEALTH, WAN, "standalone"))
    gate_a, gate_b = (m.lngs[k].worker for k in m.groups)
    assert gate_a.writes_last_hour() == 1 and gate_b.writes_last_hour() == 1
    assert gate_a.history is not gate_b.history


def test_active_active_pair_on_one_lng_is_one_put():
    c = cfg()
    m, calls, local, *_ = make(c)
    health = {"con1": "DOWN", "con4": "DOWN"}
    m.execute(m.decide(health, {"con1": NEW, "con4": NEW}, "standalone"))
    assert [c[0] for c in calls if c[1] == "update-lng"] == ["con1"]


def test_a_slow_failing_lng_does_not_hold_the_other_lngs_tunnels_back():
    """LNG b's PUT only returns (and fails) once con1 was verified: an executor that waits
    for every LNG before the local write would wait here until the barrier breaks."""
    released = threading.Event()
    m, calls, local, alerts, tsteps = make(cfg())
    slow = m.lngs[list(m.groups)[1]].worker.worker

    def call(op, arg=None, *, deadline=0.0):
        calls.append(("con2", op, arg, threading.current_thread().name))
        if op == "update-lng":
            assert released.wait(10), "con1 was never verified while LNG b's PUT ran"
            raise AzureCallError("AzureServerError", "500 from ARM", status=500)
        return {}

    slow.call = call
    m.actions["verify"] = lambda t, s: released.set() or "answered"
    m.batch_grace = 0.05
    recs = m.execute(m.decide(HEALTH, WAN, "standalone"))
    a, b = list(m.groups)
    assert recs[a].ok and recs[b].ok is False
    assert local == [[("con1", NEW), ("con4", NEW)]]


def run_bounded(m, decisions, timeout=30):
    """execute() on a thread; AssertionError if it has not ended within ``timeout``."""
    out = {}
    th = threading.Thread(target=lambda: out.update(recs=m.execute(decisions)), daemon=True)
    th.start()
    th.join(timeout)
    assert not th.is_alive(), "the executor waited for something that was already settled"
    return out["recs"]


def test_the_fast_lng_does_not_wait_the_grace_once_the_other_has_failed():
    """LNG b fails only after LNG a is done; with an hour of grace the executor must still
    go on as soon as b has failed (b can no longer join the local write)."""
    m, calls, local, alerts, tsteps = make(cfg())
    a_done = threading.Event()
    gate_a = m.lngs[list(m.groups)[0]].worker
    real_call = gate_a.worker.call

    def call_a(op, arg=None, *, deadline=0.0):
        try:
            return real_call(op, arg, deadline=deadline)
        finally:
            a_done.set()

    gate_a.worker.call = call_a
    slow = m.lngs[list(m.groups)[1]].worker.worker

    def call_b(op, arg=None, *, deadline=0.0):
        if op == "update-lng":
            assert a_done.wait(10)
            raise AzureCallError("AzureServerError", "500 from ARM", status=500)
        return {}

    slow.call = call_b
    m.batch_grace = 3600.0
    recs = run_bounded(m, m.decide(HEALTH, WAN, "standalone"))
    a, b = list(m.groups)
    assert recs[a].ok and recs[b].ok is False
    assert local == [[("con1", NEW), ("con4", NEW)]]


def test_a_slow_lng_that_succeeds_later_gets_its_own_local_write():
    released = threading.Event()
    m, calls, local, alerts, tsteps = make(cfg())
    slow = m.lngs[list(m.groups)[1]].worker.worker

    def call(op, arg=None, *, deadline=0.0):
        if op == "update-lng":
            assert released.wait(10), "con1 was never verified while LNG b's PUT ran"
        return {"changed": True, "old_ip": OLD}

    slow.call = call
    m.actions["verify"] = lambda t, s: released.set() or "answered"
    m.batch_grace = 0.05
    recs = run_bounded(m, m.decide(HEALTH, WAN, "standalone"))
    assert all(r.ok for r in recs.values())
    assert local == [[("con1", NEW), ("con4", NEW)], [("con2", NEW)]]
    assert all(r.applied_ip == NEW for r in m.lngs.values())


def test_a_tunnel_that_fails_to_restart_does_not_stop_the_others_of_its_lng():
    m, calls, local, alerts, tsteps = make(cfg())

    def restart(t, s):
        tsteps.append((t.ike, "restart"))
        if t.ike == "con1":
            from s2s_agent.core.errors import S2SError

            raise S2SError("initiate con1: timed out")
        return "restarted"

    m.actions["restart_ike"] = restart
    recs = run_bounded(m, m.decide(HEALTH, WAN, "standalone"))
    a, b = list(m.groups)
    assert ("con4", "verify") in tsteps and ("con2", "verify") in tsteps
    assert ("con1", "verify") not in tsteps
    assert [r["ok"] for r in m.tunnel_records["con1"]] == [False]
    assert [r["ok"] for r in m.tunnel_records["con4"]] == [True]
    assert recs[a].ok is False and recs[b].ok is True
    assert m.lngs[a].applied_ip == OLD and m.lngs[b].applied_ip == NEW
    assert any(s == "err" and "tunnel=con1" in msg and "restart_ike" in msg for s, msg in alerts)
    # LNG a backs off on its own attempts; its write was counted, and it is not written again
    da, db = m.decide({"con1": "DOWN", "con4": "UP", "con2": "UP"}, WAN, "standalone")
    assert not da.updates_lng and not db.steps
    assert m.lngs[a].worker.writes_last_hour() == 1


def test_an_unexpected_error_in_one_lng_fails_that_lng_only():
    m, calls, local, alerts, tsteps = make(cfg())
    broken = m.lngs[list(m.groups)[1]]
    broken.actions["update_lng"] = lambda step, ip: {}["bug"]  # KeyError: not an S2SError
    recs = run_bounded(m, m.decide(HEALTH, WAN, "standalone"))
    a, b = list(m.groups)
    assert recs[a].ok and recs[b].ok is False
    assert local == [[("con1", NEW), ("con4", NEW)]]  # con2 does not follow a broken LNG
    assert ("con2", "restart") not in tsteps
    assert any(s == "err" and "lng=lng-pfsense-b" in msg for s, msg in alerts)


def test_an_unknown_tunnel_id_is_read_from_its_ike_sa():
    up = {"con1": "UP", "con4": "UP", "con2": "UP"}
    for sa_id, follows, memory in (
        (NEW, False, NEW),  # its SA already uses the address: adopted
        ("office.example.com", False, "="),  # an FQDN identity: nothing to re-apply
        (OLD, True, OLD),  # a stale SA on the old address: re-apply, restart, verify
        (None, True, None),  # no SA to tell: the same
    ):
        m, *_ = make(cfg())
        for r in m.lngs.values():
            r.applied_ip = r.lng_ip = NEW
        m.tunnel_ips["con4"] = None
        da, db = m.decide(up, WAN, "standalone", seen={"con1": NEW, "con4": sa_id})
        assert ([t for t, _ in da.steps] == ["con4"] * 3) is follows, sa_id
        assert not da.updates_lng and not db.steps
        assert m.tunnel_ips["con4"] == memory


def test_the_ladders_check_lng_that_finds_a_stale_lng_writes_only_through_its_gate():
    """check_lng finds LNG b stale and turns into a heal: its PUT still takes a slot of
    LNG b's own gate, which is full, so nothing reaches Azure; LNG a's gate is not touched."""
    import time as _time

    m, calls, local, alerts, tsteps = make(cfg(limit=1))
    a, b = list(m.groups)
    for r in m.lngs.values():
        r.applied_ip, r.lng_ip = None, None  # first run: the ladder asks Azure first
    m.lngs[b].history.azure_writes.append(_time.time() - 60)
    m.lngs[b].worker.worker.call = lambda op, arg=None, *, deadline=0.0: (
        calls.append(("con2", op, arg, "")) or ({"ip": OLD} if op == "get-lng" else {})
    )
    ds = m.decide({"con1": "UP", "con4": "UP", "con2": "DOWN"}, WAN, "standalone")
    recs = run_bounded(m, ds)
    assert [op for n, op, *_ in calls if n == "con2"] == ["get-lng"]  # no update-lng sent
    assert recs[b].ok is False and "write limit" in recs[b].steps[-1].detail
    assert m.lngs[a].worker.writes_last_hour() == 0
    assert any(s == "err" and "lng=lng-pfsense-b" in msg for s, msg in alerts)
