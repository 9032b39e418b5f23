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
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

LNG_A, LNG_B = config.LNG_A, config.LNG_B


@pytest.fixture
def mlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from multiwan_lab(tmp_path_factory.mktemp("magent"), "s2sa")


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
    finally:
        agent.stop()
        azure.stop()
