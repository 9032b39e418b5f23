"""End to end with the agent (issue 10 item 3): a gateway-group failover and failback.

The multi-WAN lab: onprem WAN1 (``wan0``, tier 1) and WAN2 (``wan2``, tier 2) in one
gateway group; con1 + active-active con4 on LNG ``lng-pfsense``, con2 on ``lng-pfsense-b``
in a second subscription; every phase 1 on the group. ``lab.failover("wan2")`` does what
pfSense does when WAN1 dies: the path moves to WAN2 and ``ipsec_configure`` re-sources every
phase 1 (``local_addrs`` only; the local identifier stays the old WAN's address). Nothing
heals unless the agent follows the group: both LNGs must learn WAN2's address and every
phase 1's My identifier must be re-applied. The agent resolves the group with the
``kernel`` resolver (pfSense's tier choice on link state + addresses), woken by the link
event.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.helpers.multiagent import LogWatch, local_hosts, run_agent, tunnels, wait_all
from tests.helpers.multiwan import GROUP, PINGS, SEEN, multiwan_lab, ping
from tests.lab import config
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

LNG_A, LNG_B = config.LNG_A, config.LNG_B
WAN1, WAN2 = config.ONPREM_WAN, config.ONPREM_WAN2


@pytest.fixture
def mlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from multiwan_lab(tmp_path_factory.mktemp("failover"), "s2sf")


def local_ids(lab: Lab) -> dict[str, str]:
    """Each loaded connection's local identifier (what charon will send)."""
    out = lab.swanctl("onprem", "--list-conns").stdout
    return dict(
        re.findall(
            r"^(con\d+): .*?\n.*?^\s+local pre-shared key authentication:\n\s+id: (\S+)",
            out,
            re.M | re.S,
        )
    )


def local_addrs(lab: Lab) -> dict[str, str]:
    out = lab.swanctl("onprem", "--list-conns").stdout
    return dict(re.findall(r"^(con\d+): IKEv\d, [^\n]*?\n\s+local:\s+(\S+)", out, re.M))


def fail_over(lab: Lab, agent, member: str) -> float | None:
    """Switch the group (lab.failover / failback) and return the detection time: from the
    switch to the agent's "WAN change seen" log line."""
    watch = LogWatch(agent.stderr_path, SEEN)
    t0 = time.monotonic()
    if member == "wan2":
        lab.failover("wan2")
    else:
        lab.failback()
    seen = watch.wait(15)
    return None if seen is None else seen - t0


def test_the_labs_failover_resources_phase1s_but_keeps_their_identifier(mlab: Lab):
    """pfSense's ipsec_configure rewrites local_addrs from the resolved group; myid_data
    (the identifier) stays what config.xml says: the lab must not do the agent's job."""
    mlab.failover("wan2")
    try:
        assert local_addrs(mlab) == dict.fromkeys(PINGS, WAN2)
        assert local_ids(mlab) == dict.fromkeys(PINGS, WAN1)
    finally:
        mlab.failback()
    assert local_addrs(mlab) == dict.fromkeys(PINGS, WAN1)


def test_failover_to_wan2_then_failback_heal_both_lngs_and_every_tunnel(mlab: Lab):
    azure, agent = run_agent(
        mlab,
        "agent-failover",
        wan_source=GROUP,
        wan={"hold_seconds": 0.5, "hold_count": 1, "poll_interval": 30},
    )
    try:
        rem = tunnels(agent)["con2"]["remediation"]
        assert (rem["wan_group"], rem["wan_gateway"], rem["wan_tier"], rem["wan_interface"]) == (
            "WAN_FAILOVER",
            "WAN1GW",
            1,
            "wan0",
        )
        # (a) WAN1 dies: failover to WAN2
        detect = fail_over(mlab, agent, "wan2")
        print(f"failover detection (lab.failover -> agent's WAN change event): {detect}")
        assert detect is not None, f"no WAN change event; agent stderr: {agent.stderr_tail(30)}"
        st = wait_all(
            agent,
            lambda t: t["health"] == "UP" and t["remediation"]["applied_ip"] == WAN2,
            90,
            "every tunnel healed on WAN2",
        )
        lngs = azure.stats()["lngs"]
        assert (lngs[LNG_A]["puts"], lngs[LNG_B]["puts"]) == (1, 1)  # once per LNG
        assert lngs[LNG_A]["gatewayIpAddress"] == lngs[LNG_B]["gatewayIpAddress"] == WAN2
        assert local_ids(mlab) == dict.fromkeys(PINGS, WAN2)  # My identifier re-applied
        assert local_hosts(mlab) == dict.fromkeys(PINGS, WAN2)
        assert all(ping(mlab, ike) for ike in PINGS)
        rem = st["con1"]["remediation"]
        assert (rem["wan_gateway"], rem["wan_tier"], rem["wan_interface"], rem["wan_ip"]) == (
            "WAN2GW",
            2,
            "wan2",
            WAN2,
        )

        # (b) WAN1 is back: failback heals both again on WAN1's address
        detect = fail_over(mlab, agent, "wan1")
        print(f"failback detection (lab.failback -> agent's WAN change event): {detect}")
        assert detect is not None, f"no WAN change event; agent stderr: {agent.stderr_tail(30)}"
        st = wait_all(
            agent,
            lambda t: t["health"] == "UP" and t["remediation"]["applied_ip"] == WAN1,
            90,
            "every tunnel healed on WAN1 again",
        )
        lngs = azure.stats()["lngs"]
        assert (lngs[LNG_A]["puts"], lngs[LNG_B]["puts"]) == (2, 2)
        assert lngs[LNG_A]["gatewayIpAddress"] == lngs[LNG_B]["gatewayIpAddress"] == WAN1
        assert local_ids(mlab) == dict.fromkeys(PINGS, WAN1)
        assert local_hosts(mlab) == dict.fromkeys(PINGS, WAN1)
        assert all(ping(mlab, ike) for ike in PINGS)
        assert st["con4"]["remediation"]["wan_gateway"] == "WAN1GW"
    finally:
        agent.stop()
        azure.stop()


HOLD = 10.0


def test_a_flap_within_the_hold_writes_no_lng(mlab: Lab):
    azure, agent = run_agent(
        mlab,
        "agent-flap",
        wan_source=GROUP,
        wan={"hold_seconds": HOLD, "hold_count": 2, "poll_interval": 30},
    )
    try:
        watch = LogWatch(agent.stderr_path, "pending change to 100.64.0.2 cancelled")
        first = LogWatch(agent.stderr_path, SEEN)
        t0 = time.monotonic()
        mlab.failover("wan2")  # WAN1 down ...
        seen = first.wait(HOLD)
        mlab.failback()  # ... and up again
        took = time.monotonic() - t0
        assert took < HOLD, f"the lab took {took:.1f}s to flap, longer than the hold"
        assert seen is not None, f"the agent never saw WAN2; stderr: {agent.stderr_tail(30)}"
        assert watch.wait(HOLD) is not None, f"no cancel; stderr: {agent.stderr_tail(30)}"
        time.sleep(HOLD - (time.monotonic() - t0) + 2)  # past the hold of the first sighting
        lngs = azure.stats()["lngs"]
        assert (lngs[LNG_A]["puts"], lngs[LNG_B]["puts"]) == (0, 0)
        st = tunnels(agent)
        assert {t["remediation"]["wan_ip"] for t in st.values()} == {WAN1}
        assert {t["remediation"]["wan_candidate"] for t in st.values()} == {None}
        # the flap dropped the SAs: the DOWN ladder may restart a tunnel (under load it does),
        # but no remediation may have touched an LNG
        assert not any("update_lng" in a for a in agent.alerts())
    finally:
        agent.stop()
        azure.stop()
