"""The multi-tunnel planner: one LNG update per LNG, tunnels follow, per-LNG limits and backoff."""

from hypothesis import given, settings
from hypothesis import strategies as st

from s2s_agent.decide.multiplan import (
    LngView,
    TunnelView,
    local_batch,
    plan_all,
    wanted_ip,
)
from s2s_agent.decide.plan import Attempt, History, Policy

A = ("public", "sub-a", "rg-a", "lng-pfsense")
B = ("public", "sub-b", "rg-b", "lng-pfsense-b")
OLD, NEW = "198.51.100.2", "198.51.100.9"


def lngs(ip=OLD):
    return {A: LngView(A, "lng-pfsense", ip, ip), B: LngView(B, "lng-pfsense-b", ip, ip)}


def three(ip=NEW, health="DOWN"):
    return [
        TunnelView("con1", A, health, ip),
        TunnelView("con4", A, health, ip),  # active-active: second phase 1 on the same LNG
        TunnelView("con2", B, health, ip),
    ]


def kinds(d):
    return [(t, s.kind) for t, s in d.steps]


def test_one_wan_change_one_update_per_lng_and_every_tunnel_follows():
    da, db = plan_all(100.0, three(), lngs(), {}, Policy())
    assert (da.key, da.tunnels) == (A, ("con1", "con4"))
    assert kinds(da) == [
        (None, "update_lng"),
        ("con1", "apply_local_id"),
        ("con4", "apply_local_id"),
        ("con1", "restart_ike"),
        ("con4", "restart_ike"),
        ("con1", "verify"),
        ("con4", "verify"),
    ]
    assert kinds(db)[0] == (None, "update_lng") and db.tunnels == ("con2",)
    assert da.plan.target == db.plan.target == NEW
    assert local_batch((da, db)) == (("con1", NEW), ("con4", NEW), ("con2", NEW))


def test_an_lng_that_already_holds_the_address_is_not_written_but_its_tunnels_follow():
    have = lngs()
    have[B] = LngView(B, "lng-pfsense-b", OLD, NEW)  # Azure already has NEW
    da, db = plan_all(100.0, three(), have, {}, Policy())
    assert da.updates_lng and not db.updates_lng
    assert ("con2", "apply_local_id") in kinds(db)


def test_a_failing_lng_backs_off_without_delaying_the_other():
    failed = History(attempts=[Attempt(90.0, "update_lng", False, target=NEW)])
    da, db = plan_all(91.0, three(), lngs(), {A: failed}, Policy(backoff_base=10))
    assert da.plan.blocked and da.plan.wait_until == 100.0 and not da.steps
    assert db.updates_lng and db.plan.blocked is None


def test_the_write_limit_is_per_lng():
    full = History(azure_writes=[10.0 * i for i in range(6)])
    da, db = plan_all(100.0, three(), lngs(), {A: full}, Policy(max_azure_writes_per_hour=6))
    assert "write limit" in da.plan.blocked and not da.steps
    assert db.updates_lng


def test_tunnels_of_one_lng_that_disagree_plan_nothing_for_it():
    ts = three()
    ts[1] = TunnelView("con4", A, "DOWN", "203.0.113.77")
    da, db = plan_all(100.0, ts, lngs(), {}, Policy())
    assert not da.steps and "different WAN addresses" in da.plan.blocked
    assert db.updates_lng


def test_a_source_without_an_answer_yet_does_not_veto():
    assert wanted_ip([TunnelView("a", A, "UP", None), TunnelView("b", A, "UP", NEW)]) == (NEW, "")


def test_all_up_on_the_written_address_plans_nothing():
    assert all(not d.steps for d in plan_all(5.0, three(OLD, "UP"), lngs(), {}, Policy()))


@settings(max_examples=60, deadline=None)
@given(
    changes=st.lists(
        st.tuples(st.floats(1, 900), st.sampled_from(["a", "b", "c"]), st.booleans()),
        min_size=1,
        max_size=40,
    ),
    limit=st.integers(1, 6),
)
def test_property_writes_per_lng_never_exceed_the_limit_and_one_update_per_lng(changes, limit):
    """Any sequence of WAN changes, with PUTs that fail or succeed: per LNG, no 3600 s
    window holds more than ``limit`` writes, and a plan never updates an LNG twice."""
    ips = {"a": "198.51.100.10", "b": "198.51.100.11", "c": "198.51.100.12"}
    policy = Policy(max_azure_writes_per_hour=limit, backoff_base=1, backoff_cap=60)
    hist = {A: History(), B: History()}
    state = lngs()
    now = 0.0
    for gap, which, ok in changes:
        now += gap
        for d in plan_all(now, three(ips[which]), state, hist, policy):
            ups = [s for t, s in d.steps if s.kind == "update_lng"]
            assert len(ups) <= 1
            if not ups:
                continue
            h = hist[d.key]
            h.azure_writes.append(now)
            h.attempts.append(Attempt(now, "update_lng", ok, target=ups[0].ip))
            if ok:
                state[d.key] = LngView(d.key, d.name, ups[0].ip, ups[0].ip)
                h.attempts.clear()
    for h in hist.values():
        for t in h.azure_writes:
            assert len([w for w in h.azure_writes if t <= w < t + 3600]) <= limit


def test_a_tunnel_whose_own_id_is_not_on_the_lngs_address_follows_it_alone():
    """A reload added con4 to an LNG already on NEW: its own local id is unknown (no SA to
    tell). It alone gets apply + restart + verify (no Azure write, before any ladder rung)."""
    pol = Policy(True, 6, 0, 30, 900)
    tv = [
        TunnelView("con1", A, "UP", NEW, NEW),
        TunnelView("con4", A, "DOWN", NEW, None),
        TunnelView("con2", B, "UP", NEW),
    ]
    da, db = plan_all(1000.0, tv, lngs(NEW), {}, pol)
    assert kinds(da) == [("con4", "apply_local_id"), ("con4", "restart_ike"), ("con4", "verify")]
    assert not da.updates_lng and da.plan.target == NEW and "con4" in da.plan.reason
    assert not db.steps
    # after a failed attempt towards NEW it backs off like a heal
    hist = {A: History([Attempt(1000.0, "restart_ike", False, NEW)], [])}
    da, _ = plan_all(1001.0, tv, lngs(NEW), hist, pol)
    assert not da.steps and da.plan.blocked and da.plan.wait_until
    # UP on the old address (a stale SA) follows too; on the address: nothing to do
    up = [TunnelView("con1", A, "UP", NEW, NEW), TunnelView("con4", A, "UP", NEW, OLD)]
    [da] = plan_all(1000.0, up, {A: lngs(NEW)[A]}, {}, pol)
    assert [t for t, _ in da.steps] == ["con4"] * 3
    up[1] = TunnelView("con4", A, "UP", NEW, NEW)
    [da] = plan_all(1000.0, up, {A: lngs(NEW)[A]}, {}, pol)
    assert not da.steps
    # a BACKUP node never acts
    [da] = plan_all(1000.0, tv[:2], {A: lngs(NEW)[A]}, {}, pol, role="backup")
    assert not da.steps
