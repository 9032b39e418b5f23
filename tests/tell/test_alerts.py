from s2s_agent.tell.alerts import AlertTracker


def test_first_up_is_silent_first_down_alerts():
    t = AlertTracker(reminder_interval=100)
    assert t.update("hq", "con1", "UP", [], 0) == []
    t2 = AlertTracker(reminder_interval=100)
    [a] = t2.update("hq", "con1", "DOWN", ["ike_sa_missing"], 0)
    assert a.severity == "err"
    assert (
        "tunnel=hq ike=con1 health=DOWN previous=UNKNOWN reasons=ike_sa_missing event=transition"
        in a.message
    )


def test_transition_once_then_reminder_then_recovery():
    t = AlertTracker(reminder_interval=100)
    t.update("hq", "con1", "UP", [], 0)
    [a] = t.update("hq", "con1", "DOWN", ["dpd_giveup"], 10)
    assert "previous=UP" in a.message and "event=transition" in a.message
    assert t.update("hq", "con1", "DOWN", ["dpd_giveup"], 20) == []
    assert t.update("hq", "con1", "DOWN", ["dpd_giveup"], 109) == []
    [r] = t.update("hq", "con1", "DOWN", ["dpd_giveup", "ike_connecting"], 110)
    assert "event=reminder" in r.message and "reasons=dpd_giveup,ike_connecting" in r.message
    assert t.update("hq", "con1", "DOWN", [], 150) == []
    [u] = t.update("hq", "con1", "UP", [], 160)
    assert u.severity == "notice" and "health=UP previous=DOWN reasons=-" in u.message


def test_reminders_disabled_with_zero():
    t = AlertTracker(reminder_interval=0)
    t.update("hq", "con1", "DEGRADED", ["probe_loss"], 0)
    assert t.update("hq", "con1", "DEGRADED", ["probe_loss"], 10**6) == []


def test_state_round_trip_keeps_memory():
    t = AlertTracker(reminder_interval=100)
    t.update("hq", "con1", "DOWN", ["x"], 0)
    t2 = AlertTracker(reminder_interval=100)
    t2.load(t.to_dict())
    assert t2.update("hq", "con1", "DOWN", ["x"], 50) == []
    t2.load({"bad": {"nope": 1}})  # ignored, not fatal
    assert "bad" not in t2.states
