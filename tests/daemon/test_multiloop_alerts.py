"""The multi loop's alerts (issue 10 item 4): an LNG whose PUT keeps failing alerts once
(not at every backed-off attempt) and tells its recovery; every event names lng= and the
tunnels; the other LNG's heal is told on its own."""

from __future__ import annotations

from s2s_agent import config
from s2s_agent.act.azureworker import AzureCallError
from s2s_agent.multiloop import MultiRemedyLoop

OLD, NEW = "198.51.100.2", "198.51.100.9"
PROFILE = {
    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "client_id": "11111111-2222-3333-4444-555555555555",
    "client_secret_file": "/s/x.secret",
}


def cfg(tmp_path):
    def t(ike, lng, sub):
        target = {"subscription_id": sub, "resource_group": "rg", "local_network_gateway": lng}
        return {"ike": ike, "azure": {"profile": "a", **target}}

    sub_a, sub_b = "00000000-1111-2222-3333-444444444444", "00000000-1111-2222-3333-555555555555"
    data = {
        "agent": {"state_dir": str(tmp_path)},
        "azure_profiles": {"a": PROFILE},
        "alerts": {"reminder_interval": 7200},
        "wan": {"source": "interface", "interface": "wan0", "hold_seconds": 0, "hold_count": 1},
        "tunnels": [t("con1", "lng-a", sub_a), t("con2", "lng-b", sub_b)],
        "remediation": {"enabled": True, "local_backend": "none", "azure_status_interval": 0},
    }
    return config.parse(data, str(tmp_path / "c.yaml"))


class Worker:
    def __init__(self, name, fail):
        self.name, self.fail = name, fail

    def call(self, op, arg=None, *, deadline=0.0):
        if op == "update-lng" and self.name in self.fail:
            raise AzureCallError("AzureServerError", "Azure answered 500", status=500)
        return {"changed": True, "old_ip": OLD}


def test_a_failing_lng_alerts_once_per_state_change(tmp_path):
    now, alerts, fail = [1_000_000.0], [], {"con2"}
    loop = MultiRemedyLoop(
        cfg(tmp_path),
        notify=lambda sev, msg: alerts.append((sev, msg)),
        clock=lambda: now[0],
        previous_wan=OLD,
        workers=lambda name: Worker(name, fail),
        actions={
            "apply_local_ids": lambda items: "ok",
            "restart_ike": lambda t, s: "restarted",
            "verify": lambda t, s: "answered",
        },
    )
    for r in loop.multi.lngs.values():
        r.applied_ip = r.lng_ip = OLD
    loop.wan.read = lambda settings: (NEW, "")
    health = [{"name": "con1", "health": "DOWN"}, {"name": "con2", "health": "DOWN"}]
    attempts = 0
    for _ in range(6):  # six backed-off attempts of lng-b, 15 minutes apart
        loop.tick(health)
        loop.wait(10)
        health[0]["health"] = "UP"
        attempts = len(loop.multi.lngs[loop.cfg.tunnels[1].azure.lng_key].records)
        now[0] += 900
    assert attempts >= 3
    b = [(sev, m) for sev, m in alerts if "lng=lng-b" in m]
    assert [sev for sev, _ in b] == ["err"], b  # one alert, not one per attempt
    assert "tunnels=con2 event=remediation_failed step=update_lng" in b[0][1]
    assert any("lng=lng-a tunnels=con1 event=remediated" in m for _, m in alerts)
    fail.clear()  # lng-b's PUT works again: the recovery is told
    for _ in range(3):
        loop.tick(health)
        loop.wait(10)
        now[0] += 900
    ok = [m for _, m in alerts if "lng=lng-b" in m and "event=remediated" in m]
    assert len(ok) == 1 and "recovered_after=" in ok[0], alerts
