from s2s_agent.core.model import ChildSa, IkeSa, SaSnapshot
from s2s_agent.decide import health as H

NOW = 10_000.0


def snap(*ikes):
    return SaSnapshot(tuple(ikes))


def ike(name="con1", state="ESTABLISHED", uid=1, children=("con1",), child_state="INSTALLED"):
    kids = tuple(ChildSa(n, uniqueid=i + 1, state=child_state) for i, n in enumerate(children))
    return IkeSa(name, uniqueid=uid, state=state, child_sas=kids if state == "ESTABLISHED" else ())


def ev(kind, seen=NOW - 5, conn="con1"):
    return H.SeenEvent(seen, kind, conn)


def assess(s, events=(), probe=None, children=("con1",)):
    return H.assess("con1", children, s, list(events), probe, NOW)


def test_up():
    a = assess(snap(ike()))
    assert (a.health, a.reasons) == ("UP", ())


def test_source_error_is_unknown():
    assert assess(None).health == "UNKNOWN"
    assert assess(None).reasons == ("sa_source_error",)


def test_missing_ike_sa_is_down_with_log_reasons():
    a = assess(snap(ike("other")), [ev("retransmit"), ev("retransmit_giveup"), ev("auth_failed")])
    assert a.health == "DOWN"
    assert a.reasons == ("ike_sa_missing", "dpd_giveup", "auth_failed")


def test_connecting_is_down():
    a = assess(snap(ike(state="CONNECTING")), [ev("no_proposal")])
    assert a.health == "DOWN"
    assert a.reasons == ("ike_connecting", "no_proposal")


def test_other_connections_events_do_not_count():
    a = assess(snap(), [ev("auth_failed", conn="con2")])
    assert a.reasons == ("ike_sa_missing",)


def test_old_events_outside_window_do_not_count():
    a = assess(snap(), [ev("auth_failed", seen=NOW - 1000)])
    assert a.reasons == ("ike_sa_missing",)


def test_child_missing_all_down_some_degraded():
    assert assess(snap(ike(children=()))).health == "DOWN"
    a = assess(snap(ike(children=("con1_1",))), children=("con1_1", "con1_2"))
    assert (a.health, a.reasons) == ("DEGRADED", ("child_sa_missing",))


def test_child_not_installed_counts_as_missing():
    a = assess(snap(ike(child_state="REKEYING")))
    assert a.reasons == ("child_sa_missing",)


def test_established_prefers_established_sa_and_children_across_duplicates():
    s = snap(ike(state="CONNECTING", uid=5), ike(uid=3))
    a = assess(s)
    assert a.health == "UP"
    assert a.ike.uniqueid == 3


def test_probe_total_loss_with_sa_up_is_down():
    a = assess(snap(ike()), probe=H.ProbeView(3, 0))
    assert (a.health, a.reasons) == ("DOWN", ("probe_failed",))


def test_probe_partial_loss_degraded_and_threshold():
    assert assess(snap(ike()), probe=H.ProbeView(3, 2)).reasons == ("probe_loss",)
    assert assess(snap(ike()), probe=H.ProbeView(10, 9)).health == "UP"  # 10% <= 20%


def test_probe_error_is_degraded_not_down():
    a = assess(snap(ike()), probe=H.ProbeView(3, 0, error="ping timed out"))
    assert (a.health, a.reasons) == ("DEGRADED", ("probe_error",))


def test_retransmits_before_reestablish_are_forgotten():
    events = [
        ev("retransmit", NOW - 50),
        ev("retransmit_giveup", NOW - 40),
        ev("ike_established", NOW - 30),
    ]
    assert assess(snap(ike()), events).health == "UP"
    events.append(ev("retransmit", NOW - 10))
    a = assess(snap(ike()), events)
    assert (a.health, a.reasons) == ("DEGRADED", ("retransmits",))


def test_overall():
    assert H.overall(["UP", "DEGRADED"]) == "DEGRADED"
    assert H.overall(["UP", "DOWN", "UNKNOWN"]) == "UNKNOWN"
    assert H.overall([]) == "UNKNOWN"


def test_log_order_not_read_time_decides_what_is_after_establishment():
    # one poll read the failed attempt and the successful one: same `seen` time
    events = [
        ev("retransmit", NOW - 5),
        ev("retransmit_giveup", NOW - 5),
        ev("ike_established", NOW - 5),
    ]
    assert assess(snap(ike()), events).health == "UP"


def test_partial_loss_is_judged_over_the_window_total_loss_at_once():
    # one lost ping of 3 in the latest probe, none in the two before: 1/9 = 11% <= 20%
    assert assess(snap(ike()), probe=H.ProbeView(3, 2, None, 9, 8)).health == "UP"
    # lost pings in every recent probe: 3/9 = 33% > 20%
    assert assess(snap(ike()), probe=H.ProbeView(3, 2, None, 9, 6)).reasons == ("probe_loss",)
    # the latest probe got nothing back: DOWN now, whatever the window says
    assert assess(snap(ike()), probe=H.ProbeView(3, 0, None, 9, 6)).reasons == ("probe_failed",)


# ---- a partly read snapshot (text parsers skipped lines) ----------------------------------


def test_unattributed_damage_makes_a_missing_ike_sa_unknown_not_down():
    damaged = SaSnapshot((), warnings=("line 3: unreadable",), unattributed=True)
    assert assess(damaged) == H.Assessment("UNKNOWN", ("sa_unreadable",), None, {"con1": None})
    assert assess(snap()).health == "DOWN"  # the same without damage: really missing


def test_an_ike_sa_whose_state_could_not_be_read_is_unknown():
    s = SaSnapshot((IkeSa("con1", 1, None),), warnings=("line 2: x",))
    assert assess(s).health == "UNKNOWN" and assess(s).reasons == ("sa_unreadable",)
    # an ESTABLISHED duplicate still decides
    s2 = SaSnapshot((IkeSa("con1", 1, None), ike(uid=2)), warnings=("line 2: x",))
    assert assess(s2).health == "UP"


def test_a_child_missing_from_a_damaged_ike_sa_is_unknown():
    base = IkeSa("con1", 1, "ESTABLISHED", child_sas=(), damaged=True)
    s = SaSnapshot((base,), warnings=("line 5: unreadable CHILD_SA header",))
    assert assess(s).health == "UNKNOWN"
    undamaged = SaSnapshot((IkeSa("con1", 1, "ESTABLISHED"),), warnings=("line 9: other",))
    assert assess(undamaged).health == "DOWN"
    # a CHILD SA listed with an unreadable state beats a known non-INSTALLED one
    kids = (ChildSa("con1", 1, "REKEYED"), ChildSa("con1", 2, None))
    s = SaSnapshot((IkeSa("con1", 1, "ESTABLISHED", child_sas=kids),), warnings=("line 7: x",))
    a = H.assess("con1", ("con1", "con2"), s, [], None, NOW)
    assert a.health == "UNKNOWN" and a.reasons == ("child_sa_missing", "sa_unreadable")


def test_damage_elsewhere_does_not_hide_a_healthy_tunnel():
    s = SaSnapshot((ike(),), warnings=("line 30: x",), unattributed=True)
    assert assess(s).health == "UP"
