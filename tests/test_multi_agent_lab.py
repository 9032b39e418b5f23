"""End to end with the agent (issue 10): several Azure tunnels on two LNGs in two
subscriptions, healed by the daemon after a WAN1 address change.

The multi-WAN lab (``Scenario(multiwan=True)``): con1 + active-active con4 on LNG
``lng-pfsense``, con2 on ``lng-pfsense-b`` in a second subscription with its own principal;
the fake Azure runs as a process (``FakeAzureProc(second_site=True)``) whose hook reprograms
only the written LNG's gateways. The agent's config is the tunnels form (azure_profiles +
per-tunnel azure/wan).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.multiagent import local_hosts, run_agent, tunnels, wait_all
from tests.helpers.multiwan import NEW_WAN1, PINGS, multiwan_lab, ping
from tests.lab import config
from tests.lab.agent import LabAgent
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

LNG_A, LNG_B = config.LNG_A, config.LNG_B


@pytest.fixture
def mlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from multiwan_lab(tmp_path_factory.mktemp("magent"), "s2sa")


def lngs_sub(agent: LabAgent, lng: str) -> str:
    return next(x["subscription_id"] for x in agent.status()["lngs"] if x["name"] == lng)


def test_wan1_change_heals_both_lngs_and_every_tunnel_one_put_per_lng(mlab: Lab):
    azure, agent = run_agent(mlab, "agent-multi")
    try:
        st = tunnels(agent)
        assert st["con1"]["remediation"]["lng"] == st["con4"]["remediation"]["lng"] == LNG_A
        assert st["con2"]["remediation"]["lng"] == LNG_B
        assert st["con2"]["remediation"]["wan_source"] == "interface wan0"
        mlab.set_wan_ip(NEW_WAN1)
        st = wait_all(
            agent,
            lambda t: t["health"] == "UP" and t["remediation"]["applied_ip"] == NEW_WAN1,
            90,
            "every tunnel healed on the new WAN1 address",
        )
        lngs = azure.stats()["lngs"]
        # one PUT per LNG; con1 and con4 (active-active) share lng-pfsense's one PUT
        assert (lngs[LNG_A]["puts"], lngs[LNG_B]["puts"]) == (1, 1)
        assert lngs[LNG_A]["gatewayIpAddress"] == lngs[LNG_B]["gatewayIpAddress"] == NEW_WAN1
        assert all(ping(mlab, ike) for ike in PINGS)
        assert local_hosts(mlab) == dict.fromkeys(PINGS, NEW_WAN1)
        assert st["con4"]["tunnel_remediations"][0]["ok"] is True
        assert any("lng=lng-pfsense-b" in a and "event=remediated" in a for a in agent.alerts())
        # `status --json`: both LNGs, each with Azure's view = the new address (read by each
        # LNG's own worker and profile soon after its heal), and each tunnel's view of it
        doc: dict = {}

        def azure_sees_new() -> bool:
            nonlocal doc
            doc = agent.status()
            seen = {x["name"]: (x.get("azure") or {}).get("ip") for x in doc.get("lngs", [])}
            return seen == {LNG_A: NEW_WAN1, LNG_B: NEW_WAN1}

        try:
            mlab.wait_for(azure_sees_new, 30, what="Azure's view of both LNGs = the new address")
        except Exception as exc:
            raise AssertionError(f"{exc}: {doc.get('lngs')}") from None
        lngs = {x["name"]: x for x in doc["lngs"]}
        assert lngs[LNG_A]["tunnels"] == ["con1", "con4"] and lngs[LNG_B]["tunnels"] == ["con2"]
        assert lngs[LNG_A]["profile"] == "corp" and lngs[LNG_B]["profile"] == "branch"
        assert all(x["ip_matches_wan"] is True and x["azure_error"] is None for x in lngs.values())
        per = {t["name"]: t for t in doc["tunnels"]}
        assert {n: per[n]["azure"]["lng"]["ip"] for n in PINGS} == dict.fromkeys(PINGS, NEW_WAN1)
        assert per["con1"]["azure"]["name"] == per["con4"]["azure"]["name"]  # one connection
        check = agent.cli("check")
        assert check.returncode == 0 and check.stdout.startswith("S2S OK - con1 UP"), check.stdout
    finally:
        agent.stop()
        azure.stop()


def test_one_lngs_put_keeps_failing_the_other_lng_still_heals(mlab: Lab):
    azure, agent = run_agent(mlab, "agent-multi-fail", fail_lngs=(f"{LNG_B}:500",))
    try:
        mlab.set_wan_ip(NEW_WAN1)
        wait_all(
            agent,
            lambda t: (
                t["remediation"]["applied_ip"] == NEW_WAN1
                if t["name"] != "con2"
                else bool(t["remediations"]) and t["remediations"][0]["ok"] is False
            ),
            90,
            "con1 + con4 healed, con2's LNG failed",
        )
        st = tunnels(agent)
        assert st["con1"]["health"] == st["con4"]["health"] == "UP"
        assert ping(mlab, "con1") and ping(mlab, "con4")
        assert st["con2"]["remediation"]["applied_ip"] != NEW_WAN1
        seen: list[str] = []

        def failed_alert() -> bool:
            seen.extend(agent.alerts())
            return any("lng=lng-pfsense-b" in a and "remediation_failed" in a for a in seen)

        try:
            mlab.wait_for(failed_alert, 15, what="the failing LNG's alert")
        except Exception as exc:
            raise AssertionError(f"{exc}: {seen}") from None
        lngs = azure.stats()["lngs"]
        assert lngs[LNG_A]["writes"] == 1 and lngs[LNG_B]["writes"] == 0
        # the failing LNG backs off on its own history (no new attempt at every cycle)
        st = wait_all(
            agent,
            lambda t: (
                t["name"] != "con2"
                or "backing off" in ((t["remediation"]["plan"] or {}).get("blocked") or "")
            ),
            30,
            "con2's LNG backing off",
        )
        assert st["con2"]["remediation"]["plan"]["wait_until"]
        # check names the failing tunnel and LNG; metrics say which LNG failed; its repeated
        # failures are one alert (no storm), while the other LNG heals
        check = agent.cli("check")
        assert check.returncode == 2 and check.stdout.startswith("S2S CRITICAL - con2 "), check
        assert "LNG lng-pfsense-b remediation failed" in check.stdout
        metrics = agent.cli("metrics").stdout
        lab_b = f'lng="{LNG_B}",subscription="{lngs_sub(agent, LNG_B)}"'
        assert f"s2s_lng_last_remediation_success{{{lab_b}," in metrics
        assert f"s2s_lng_last_remediation_success{{{lab_b},resource_group=" in metrics
        wait_all(
            agent,
            lambda t: (
                t["name"] != "con2" or [r["ok"] for r in t["remediations"][:2]] == [False, False]
            ),
            90,
            "a second (backed-off) attempt on con2's LNG, failed too",
        )
        alerts = agent.alerts()  # every line received so far
        failed = [a for a in alerts if "lng=lng-pfsense-b" in a and "event=remediation_failed" in a]
        assert len(failed) == 1, "\n".join(failed)
    finally:
        agent.stop()
        azure.stop()
