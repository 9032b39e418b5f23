"""Syslog per LNG (issue 10 item 4): a failing LNG alerts once per state change, then a
reminder every reminder_interval with the count held back; its recovery is told; health
lines name the tunnel's LNG."""

from __future__ import annotations

from s2s_agent.tell.alerts import AlertTracker, LngAlertFilter, fields

FAIL_B = "lng=lng-b tunnels=con2 event=remediation_failed step=update_lng error=500"
FAIL_A = "lng=lng-a tunnels=con1,con4 event=remediation_failed step=update_lng error=500"


def make(reminder=1800.0):
    sent, now = [], [1000.0]
    f = LngAlertFilter(lambda sev, msg: sent.append((sev, msg)), lambda: now[0], reminder)
    return f, sent, now


def test_a_failing_lng_alerts_once_then_reminds_with_the_count():
    f, sent, now = make()
    for _ in range(5):
        f("err", FAIL_B)
        now[0] += 60
    assert sent == [("err", FAIL_B)]
    now[0] += 1800
    f("err", FAIL_B)
    assert sent[-1] == ("err", FAIL_B + " repeated=4")
    f("err", FAIL_B.replace("update_lng", "check_lng"))  # another failure: told at once
    assert len(sent) == 3


def test_lngs_are_independent_and_recovery_is_told():
    f, sent, now = make()
    f("err", FAIL_B)
    f("err", FAIL_A)  # another LNG failing: its own alert
    f("err", "tunnel=con1 lng=lng-a event=remediation_failed step=verify error=x")
    assert len(sent) == 3
    now[0] += 120
    ok = 'lng=lng-b tunnels=con2 event=remediated trigger="WAN IP changed" steps=update_lng'
    f("notice", ok)
    assert sent[-1] == ("notice", ok + " recovered_after=120s")
    f("notice", ok)  # healthy already: no recovery field
    assert sent[-1] == ("notice", ok)
    f("err", FAIL_A)  # lng-a still failing: held back
    assert len(sent) == 5


def test_no_reminders_with_interval_zero_and_other_lines_pass():
    f, sent, now = make(reminder=0)
    f("err", FAIL_B)
    now[0] += 10**6
    f("err", FAIL_B)
    f("warning", "lng=lng-b event=azure_read_failed error=403")
    f("err", "tunnel=hq event=remediation_failed step=verify error=x")  # no LNG: as is
    assert [m for _, m in sent] == [
        FAIL_B,
        "lng=lng-b event=azure_read_failed error=403",
        "tunnel=hq event=remediation_failed step=verify error=x",
    ]


def test_fields():
    assert fields('tunnel=a lng=b event=x trigger="y z"')["lng"] == "b"


def test_health_lines_name_the_lng():
    t = AlertTracker(lngs={"con2": "lng-b"})
    (a,) = t.update("con2", "con2", "DOWN", ["ike_sa_missing"], 0.0)
    assert a.message.endswith(" lng=lng-b") and a.message.startswith("tunnel=con2 ike=con2 ")
    (b,) = t.update("other", "con9", "DOWN", [], 0.0)
    assert "lng=" not in b.message
