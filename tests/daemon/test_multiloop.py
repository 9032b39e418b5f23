"""The daemon's loop for several Azure tunnels: one WAN change heals every LNG and tunnel,
status per tunnel (its LNG, its WAN), memory per LNG survives a restart."""

from s2s_agent import config
from s2s_agent.act.azureworker import AzureCallError
from s2s_agent.multiloop import MultiRemedyLoop, wants_multi

SUB_A = "00000000-1111-2222-3333-444444444444"
SUB_B = "00000000-1111-2222-3333-555555555555"
OLD, NEW = "198.51.100.2", "198.51.100.9"


def cfg(tmp_path):
    prof = {
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret_file": "/s/x.secret",
    }

    def t(ike, lng, sub, profile):
        return {
            "ike": ike,
            "azure": {
                "profile": profile,
                "subscription_id": sub,
                "resource_group": "rg",
                "local_network_gateway": lng,
            },
        }

    data = {
        "agent": {"state_dir": str(tmp_path)},
        "azure_profiles": {"a": prof, "b": {**prof, "client_secret_file": "/s/y.secret"}},
        "wan": {"source": "interface", "interface": "wan0", "hold_seconds": 0, "hold_count": 1},
        "tunnels": [
            t("con1", "lng-pfsense", SUB_A, "a"),
            t("con4", "lng-pfsense", SUB_A, "a"),
            t("con2", "lng-pfsense-b", SUB_B, "b"),
        ],
        "remediation": {"enabled": True, "local_backend": "none", "azure_status_interval": 0},
    }
    return config.parse(data, str(tmp_path / "c.yaml"))


class Worker:
    def __init__(self, name, log, fail):
        self.name, self.log, self.fail = name, log, fail

    def call(self, op, arg=None, *, deadline=0.0):
        self.log.append((self.name, op, arg))
        if op == "update-lng" and self.name in self.fail:
            raise AzureCallError("AzureServerError", "500", status=500)
        return {"changed": True, "old_ip": OLD}


def make(c, fail=()):
    calls, alerts, local = [], [], []
    loop = MultiRemedyLoop(
        c,
        notify=lambda sev, msg: alerts.append((sev, msg)),
        previous_wan=OLD,
        workers=lambda name: Worker(name, calls, fail),
        actions={
            "apply_local_ids": lambda items: local.append(len(items)) or "ok",
            "restart_ike": lambda t, s: "restarted",
            "verify": lambda t, s: "answered",
        },
    )
    for r in loop.multi.lngs.values():
        r.applied_ip = r.lng_ip = OLD
    loop.wan.read = lambda settings: (NEW, "")
    return loop, calls, alerts, local


DOWN = [{"name": n, "health": "DOWN"} for n in ("con1", "con4", "con2")]


def test_several_tunnels_use_the_multi_loop(tmp_path):
    assert wants_multi(cfg(tmp_path))


def test_one_wan_change_heals_both_lngs_with_one_put_each(tmp_path):
    loop, calls, alerts, local = make(cfg(tmp_path))
    loop.tick(DOWN)
    loop.wait(10)
    puts = sorted((n, ip) for n, op, ip in calls if op == "update-lng")
    assert puts == [("con1", NEW), ("con2", NEW)]
    assert local == [3]  # one local write for all three phase 1s
    st = loop.tunnel_status()
    assert st["con1"]["remediation"]["lng"] == st["con4"]["remediation"]["lng"] == "lng-pfsense"
    assert st["con2"]["remediation"]["lng"] == "lng-pfsense-b"
    assert st["con2"]["remediation"]["wan_source"] == "interface wan0"
    assert st["con2"]["remediation"]["wan_ip"] == NEW
    assert all(s["remediation"]["applied_ip"] == NEW for s in st.values())
    assert st["con4"]["tunnel_remediations"][0]["ok"] is True
    assert loop.status() == st["con1"]
    # the memory survives a restart, per LNG
    again, *_ = make(cfg(tmp_path))
    again.load(loop.to_dict())
    assert {r.applied_ip for r in again.multi.lngs.values()} == {NEW}


def test_a_failing_lng_alerts_and_the_other_heals(tmp_path):
    loop, calls, alerts, local = make(cfg(tmp_path), fail=("con2",))
    loop.tick(DOWN)
    loop.wait(10)
    st = loop.tunnel_status()
    assert st["con1"]["remediation"]["applied_ip"] == NEW
    assert st["con2"]["remediation"]["applied_ip"] == OLD
    assert any(sev == "err" and "lng=lng-pfsense-b" in m for sev, m in alerts)
    loop.tick([{"name": "con1", "health": "UP"}, {"name": "con4", "health": "UP"}, DOWN[2]])
    loop.wait(10)
    assert len([c for c in calls if c[1] == "update-lng"]) == 2  # b backs off: no second PUT
    assert st["con2"]["remediations"][0]["ok"] is False
