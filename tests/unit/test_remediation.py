from hypothesis import given, settings
from hypothesis import strategies as st

from s2s_agent.remediation import Attempt, History, Policy, View, backoff, plan

P = Policy(max_azure_writes_per_hour=6, backoff_base=10, backoff_cap=900)


def kinds(p):
    return [s.kind for s in p.steps]


def v(**kw):
    base = dict(now=1000.0, health="UP", wan_ip="192.0.2.77", applied_ip="192.0.2.77")
    base.update(kw)
    return View(**base)


def test_nothing_when_up_disabled_or_backup():
    assert plan(v(), History(), P).steps == ()
    assert "disabled" in plan(v(applied_ip="198.51.100.2"), History(), Policy(enabled=False)).reason
    p = plan(v(applied_ip="198.51.100.2", role="backup"), History(), P)
    assert p.steps == () and "BACKUP" in p.reason


def test_wan_change_heals_in_order():
    p = plan(v(applied_ip="198.51.100.2", health="DOWN"), History(), P)
    assert kinds(p) == ["update_lng", "apply_local_id", "restart_ike", "verify"]
    assert p.steps[0].ip == "192.0.2.77" and "198.51.100.2 -> 192.0.2.77" in p.reason


def test_wan_change_skips_azure_when_it_already_has_the_ip():
    p = plan(v(applied_ip="198.51.100.2", lng_ip="192.0.2.77"), History(), P)
    assert kinds(p) == ["apply_local_id", "restart_ike", "verify"]


def test_write_limit_blocks_azure_writes_until_the_oldest_ages_out():
    h = History(azure_writes=[100.0 + i for i in range(6)])
    p = plan(v(applied_ip="198.51.100.2", now=1000.0), h, P)
    assert p.steps == () and "write limit" in p.blocked and p.wait_until == 3700.0
    assert kinds(plan(v(applied_ip="198.51.100.2", now=3701.0), h, P))[0] == "update_lng"


def test_failed_heal_backs_off():
    h = History(attempts=[Attempt(995.0, "update_lng", False)])
    p = plan(v(applied_ip="198.51.100.2"), h, P)
    assert p.steps == () and p.wait_until == 1005.0
    assert kinds(plan(v(applied_ip="198.51.100.2", now=1005.0), h, P))[0] == "update_lng"


def test_down_ladder_without_ip_change():
    h = History()
    seen = []
    now = 0.0
    for _ in range(6):
        p = plan(v(health="DOWN", now=now), h, P)
        if not p.steps:
            now = p.wait_until
            p = plan(v(health="DOWN", now=now), h, P)
        seen.append((kinds(p)[0], now))
        h.attempts.append(Attempt(now, kinds(p)[0], False))
    assert [k for k, _ in seen] == ["initiate_child", "restart_ike", "check_lng", "restart_ike", "check_lng", "restart_ike"]
    assert [t for _, t in seen] == [0, 10, 30, 70, 150, 310]


def test_reset_connection_rung_only_when_configured_and_after_a_write():
    pol = Policy(reset_connection_after=60)
    h = History(attempts=[Attempt(0, "initiate_child", False), Attempt(10, "restart_ike", False),
                          Attempt(30, "check_lng", False)])
    assert kinds(plan(v(health="DOWN", now=500, last_lng_write=480), h, pol)) == ["check_lng"]
    assert kinds(plan(v(health="DOWN", now=500, last_lng_write=100), h, pol)) == ["reset_connection"]


def test_first_run_asks_azure_first():
    p = plan(v(health="DOWN", applied_ip=None), History(), P)
    assert kinds(p) == ["check_lng"] and p.steps[0].ip == "192.0.2.77"


def test_unknown_and_degraded_do_nothing():
    assert plan(v(health="UNKNOWN"), History(), P).steps == ()
    assert plan(v(health="DEGRADED"), History(), P).steps == ()


def test_backoff_is_capped():
    assert [backoff(n, P) for n in (1, 2, 3, 4)] == [0, 10, 20, 40]
    assert backoff(50, P) == 900


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["198.51.100.2", "192.0.2.77", "192.0.2.88"]),
                          st.sampled_from(["UP", "DOWN"])), min_size=1, max_size=60))
def test_azure_writes_never_exceed_the_limit(seq):
    """Whatever the WAN IP does, the planner never schedules more than the limit per hour."""
    h = History()
    applied = "198.51.100.2"
    now = 0.0
    for ip, health in seq:
        now += 30
        p = plan(View(now, health, ip, applied), h, P)
        for s in p.steps:
            if s.kind in ("update_lng", "reset_connection"):
                h.azure_writes.append(now)
            if s.kind == "apply_local_id":
                applied = s.ip
        assert len(h.writes_last_hour(now)) <= P.max_azure_writes_per_hour
