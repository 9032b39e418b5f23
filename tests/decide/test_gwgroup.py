"""The kernel stand-in for pfSense's gateway-group tier choice (gwlb.inc:
get_gwgroup_members_inner): the first tier with a member up wins; none up -> Plan B."""

from __future__ import annotations

from s2s_agent.config.tunnels import GroupMember
from s2s_agent.decide.gwgroup import MemberState, choose_member, parse_ifconfig_link, parse_ip_link

WAN1 = GroupMember("WAN1GW", 1, "wan0")
WAN2 = GroupMember("WAN2GW", 2, "wan2")
WAN3 = GroupMember("WAN3GW", 2, "wan3")
UP1 = MemberState(True, "198.51.100.2")
UP2 = MemberState(True, "100.64.0.2")


def test_tier1_while_it_is_up():
    c = choose_member([WAN2, WAN1], {"wan0": UP1, "wan2": UP2})
    assert (c.member, c.address, c.plan_b) == (WAN1, "198.51.100.2", False)


def test_failover_when_tier1_link_is_down_or_has_no_address():
    for state in (MemberState(False, "198.51.100.2"), MemberState(True, None)):
        c = choose_member([WAN1, WAN2], {"wan0": state, "wan2": UP2})
        assert (c.member, c.address) == (WAN2, "100.64.0.2")
        assert "tier 2" in c.reason


def test_members_of_one_tier_keep_their_configured_order():
    c = choose_member(
        [WAN1, WAN3, WAN2],
        {"wan0": MemberState(False, None), "wan2": UP2, "wan3": MemberState(True, "100.64.9.9")},
    )
    assert c.member is WAN3


def test_plan_b_every_member_counts_when_none_is_up():
    c = choose_member(
        [WAN1, WAN2], {"wan0": MemberState(False, "198.51.100.2"), "wan2": MemberState(False, None)}
    )
    assert (c.member, c.address, c.plan_b) == (WAN1, "198.51.100.2", True)
    assert "WAN1GW (wan0) link down" in c.reason
    c = choose_member([WAN1, WAN2], {"wan0": MemberState(None, None, "ip: no such device")})
    assert c.member is None and c.plan_b and "ip: no such device" in c.reason
    assert "WAN2GW (wan2) not read" in c.reason
    assert choose_member([], {}).member is None


def test_parse_ip_link_real_lines():
    up = "3: a0@a1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode"
    no_carrier = (
        "3: a0@a1: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 state LOWERLAYERDOWN"
    )
    down = "3: a0@a1: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN mode DEFAULT"
    assert (parse_ip_link(up), parse_ip_link(no_carrier), parse_ip_link(down)) == (
        True,
        False,
        False,
    )
    assert parse_ip_link("") is None and parse_ip_link('Device "x" does not exist.') is None


IGB0 = """igb0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\toptions=4e527bb<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,JUMBO_MTU>
\tether 00:0c:29:aa:bb:cc
\tinet 198.51.100.2 netmask 0xffffff00 broadcast 198.51.100.255
\tmedia: Ethernet autoselect (1000baseT <full-duplex>)
\tstatus: active
\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>
"""


def test_parse_ifconfig_link():
    assert parse_ifconfig_link(IGB0) is True
    assert parse_ifconfig_link(IGB0.replace("status: active", "status: no carrier")) is False
    assert parse_ifconfig_link(IGB0.replace("<UP,", "<")) is False
    assert parse_ifconfig_link(IGB0.replace("\tstatus: active\n", "")) is True  # tun, lagg
    assert parse_ifconfig_link("ifconfig: interface igb9 does not exist") is None
