"""Azure's view per LNG and per connection (issue 10 item 4): read in the background by each
LNG's own worker, one read round per LNG per interval, one read per shared connection,
errors per LNG; the daemon's status has every tunnel's and every LNG's view."""

from __future__ import annotations

import os
import threading

import pytest

from s2s_agent import config
from s2s_agent.act.azureview import AzureViews, ViewTarget, view_targets
from s2s_agent.act.azureworker import AzureCallError, worker_main
from s2s_agent.daemon import Daemon
from s2s_agent.tell import render
from tests.fakeazure import FakeAzure
from tests.fakeazure.tenancy import SITE_B
from tests.helpers.twolng import two_lng_config

A = ViewTarget(("public", "sa", "rg", "lng-a"), "lng-a", "con1", ("cn-a",))
B = ViewTarget(("public", "sb", "rg", "lng-b"), "lng-b", "con2", ("cn-b",))


class Worker:
    def __init__(self, target, calls, fail):
        self.target, self.calls, self.fail = target, calls, fail

    def call(self, op, arg=None, *, deadline=0.0):
        self.calls.append((self.target.lng, op))
        if self.target.lng in self.fail:
            raise AzureCallError("AzureForbiddenError", self.fail[self.target.lng], status=403)
        return {
            "lng": {"name": self.target.lng, "ip": "192.0.2.9", "provisioning_state": "Succeeded"},
            "lng_error": None,
            "connections": [
                {"name": c, "view": {"name": c, "status": "Connected"}, "error": None}
                for c in self.target.connections
            ],
        }


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def views(fail=None, interval=60.0):
    calls, notes, clock, fail = [], [], Clock(), fail if fail is not None else {}
    v = AzureViews(
        [A, B],
        lambda t: Worker(t, calls, fail),
        interval,
        clock=clock,
        monotonic=clock,
        notify=lambda sev, msg: notes.append((sev, msg)),
    )
    return v, calls, notes, clock, fail


def test_one_read_round_per_lng_per_interval():
    v, calls, _, clock, _ = views()
    assert v.kick() == 2
    v.join(5)
    assert sorted(calls) == [("lng-a", "get-view"), ("lng-b", "get-view")]
    clock.t += 30
    assert v.kick() == 0  # within the interval: no read
    clock.t += 31
    assert v.kick() == 2
    v.join(5)
    assert len(calls) == 4
    v.refresh(A.key)  # after a remediation wrote LNG A: read it again at once, not B
    assert v.kick() == 1
    v.join(5)
    assert calls[-1] == ("lng-a", "get-view")
    assert v.lng_view(A.key)["ip"] == "192.0.2.9"
    assert v.connection_view(B.key, "CN-B")["status"] == "Connected"  # ARM names: any case


def test_interval_zero_never_reads():
    v, calls, *_ = views(interval=0)
    assert v.kick() == 0 and calls == []


def test_a_403_on_one_lng_leaves_the_others_view_and_alerts_once_then_recovery():
    v, calls, notes, clock, fail = views()
    v.kick()
    v.join(5)
    fail["lng-b"] = "AuthorizationFailed on subscription sb"
    for _ in range(3):  # three failed rounds: one alert
        clock.t += 61
        v.kick()
        v.join(5)
    a, b = v.lng_view(A.key), v.lng_view(B.key)
    assert a["error"] is None and a["ip"] == "192.0.2.9" and a["age_seconds"] == 0
    # B keeps its last good data, with its age and the error
    assert b["ip"] == "192.0.2.9" and "AuthorizationFailed" in b["error"]
    assert b["age_seconds"] == 183 and b["checked_at"] != b["read_at"]
    assert v.connection_view(B.key, "cn-b")["error"] == b["error"]
    assert [n for n in notes if "lng=lng-b" in n[1]] == [
        ("warning", "lng=lng-b event=azure_read_failed error=LNG lng-b: " + fail["lng-b"])
    ]
    assert not any("lng=lng-a" in m for _, m in notes)
    del fail["lng-b"]
    clock.t += 61
    v.kick()
    v.join(5)
    assert notes[-1] == ("notice", "lng=lng-b event=azure_read_recovered")
    assert v.lng_view(B.key)["error"] is None


def test_reads_run_in_the_background_never_on_the_caller():
    gate = threading.Event()

    class Slow:
        def call(self, op, arg=None, *, deadline=0.0):
            gate.wait(10)
            return {"lng": {"ip": "192.0.2.1"}, "connections": []}

    v = AzureViews([A], lambda t: Slow(), 60)
    assert v.kick() == 1  # returned while the read hangs
    assert v.lng_view(A.key) is None
    assert v.kick() == 0  # one read in flight per LNG
    gate.set()
    v.join(5)
    assert v.lng_view(A.key)["ip"] == "192.0.2.1"


def test_views_survive_a_restart_with_their_age():
    v, _, _, clock, _ = views()
    v.kick()
    v.join(5)
    again, _, _, clock2, _ = views()
    again.load(v.to_dict())
    clock2.t = clock.t + 100
    assert again.lng_view(A.key)["age_seconds"] == 100
    again.load({"lng-a": {"lng": {"read_ts": "x"}}, "lng-b": 5})  # odd shapes: ignored


def test_view_targets_one_per_lng_one_read_per_shared_connection(fake_azure, tmp_path):
    cfg = config.load(two_lng_config(fake_azure, tmp_path))
    ts = view_targets(cfg)
    assert [(t.lng, t.tunnel, t.connections) for t in ts] == [
        (fake_azure.names.lng_name, "con1", (fake_azure.names.connection_name,)),
        (SITE_B["lng_name"], "con2", (SITE_B["connection_name"],)),
    ]


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the worker wants a root-owned credential file"
)


@needs_root
def test_worker_get_view_reads_the_lng_and_each_connection_once(fake_azure, tmp_path, capsys):
    path = two_lng_config(fake_azure, tmp_path)
    assert worker_main(["-c", path, "--deadline", "20", "--tunnel", "con4", "get-view"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    import json

    res = json.loads(out)["result"]
    assert res["lng"]["ip"] == fake_azure.names.gateway_ip
    assert res["lng"]["provisioning_state"] == "Succeeded"
    assert [c["name"] for c in res["connections"]] == [fake_azure.names.connection_name]
    assert res["connections"][0]["view"]["status"] == "Connected"
    assert "etag" not in res["lng"] and "sharedKey" not in out and "secret" not in out
    gets = [r["path"] for r in fake_azure.arm_requests("GET") if "/connections/" in r["path"]]
    assert len(gets) == 1  # con1 and con4 share the connection: one read


@needs_root
def test_daemon_with_two_lngs_shows_each_view_and_a_403_only_on_its_own_lng(fake_azure, tmp_path):
    fake_azure.retry_after = 0
    # subscription B's profile holds principal A's credential: 403 there, A unaffected
    path = two_lng_config(
        fake_azure, tmp_path, b_secret=fake_azure.client_secret, azure_status_interval=300
    )
    d = Daemon(config.load(path))
    loop = d.remedy_loop
    assert loop.views.kick() == 2
    loop.views.join(60)
    doc = d.status()
    lngs = {x["name"]: x for x in doc["lngs"]}
    a, b = lngs[fake_azure.names.lng_name], lngs[SITE_B["lng_name"]]
    assert a["azure"]["ip"] == fake_azure.names.gateway_ip and a["azure"]["error"] is None
    assert a["tunnels"] == ["con1", "con4"] and a["profile"] == "corp"
    assert a["connections"] == [fake_azure.names.connection_name]
    assert b["azure"].get("ip") is None and "AuthorizationFailed" in b["azure"]["error"]
    assert b["subscription_id"] == SITE_B["subscription_id"] and b["write_limit"] == 6
    per = loop.tunnel_status()
    assert per["con4"]["azure"]["status"] == "Connected"
    assert per["con4"]["azure"]["lng"]["ip"] == fake_azure.names.gateway_ip
    assert per["con2"]["azure"]["status"] is None and per["con2"]["azure"]["error"]
    assert per["con2"]["remediation"]["lng_resource_group"] == SITE_B["resource_group"]
    # every view the status shows is free of secrets, and the CLI's formats take it
    text = render.to_json(doc) + render.status_text(doc) + render.metrics(doc)
    assert fake_azure.client_secret not in text and "secret" not in text.replace(
        "client_secret_file", ""
    )
    # the daemon's status data keeps the views across a restart (state.json)
    d.persist(d.clock(), force=True)
    again = Daemon(config.load(path))
    seen = {x["name"]: x for x in again.status()["lngs"]}
    assert seen[fake_azure.names.lng_name]["azure"]["ip"] == fake_azure.names.gateway_ip
    loop.close()
    again.remedy_loop.close()


def test_fake_is_the_in_process_one(fake_azure: FakeAzure):
    assert fake_azure.url.startswith("https://")


def test_single_form_has_one_lng_in_the_status(tmp_path):
    import yaml

    from s2s_agent.remedyloop import RemedyLoop
    from tests.helpers.fakes import REMEDIATION_CFG

    data = yaml.safe_load(REMEDIATION_CFG)
    data["agent"] = {"state_dir": str(tmp_path)}
    data["azure"]["connection"] = "cn-office"
    cfg = config.parse(data, str(tmp_path / "c.yaml"))
    target = ViewTarget(cfg.azure.lng_key, "lng-office", "hq", ("cn-office",))
    calls = []
    loop = RemedyLoop(cfg, notify=lambda s, m: None, worker=Worker(target, calls, {}))
    loop.wan.read = lambda settings: ("198.51.100.2", "")
    loop.tick([{"name": "hq", "health": "UP"}])
    loop.views.join(5)
    (lng,) = loop.lng_status()
    assert (lng["name"], lng["tunnels"], lng["write_limit"]) == ("lng-office", ["hq"], 3)
    assert lng["azure"]["ip"] == "192.0.2.9" and lng["ip_matches_wan"] is False
    assert lng["wan_source"] == "interface wan0" and lng["connections"] == ["cn-office"]
    st = loop.status()
    assert st["remediation"]["lng"] == "lng-office" and st["azure"]["status"] == "Connected"
    loop.close()


def test_cli_check_one_tunnel(monkeypatch, capsys):
    from s2s_agent import cli
    from tests.helpers.multistatus import multi_doc

    monkeypatch.setattr(cli, "fetch_status", lambda path: (multi_doc(), None))
    assert cli.main(["check", "--tunnel", "con4"]) == 0
    assert capsys.readouterr().out.startswith("S2S OK - con4 UP | ")
    assert cli.main(["check", "--tunnel", "con2"]) == 2
    assert cli.main(["check"]) == 2
    assert "con2 DOWN" in capsys.readouterr().out
