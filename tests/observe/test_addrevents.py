"""One kernel event socket for every watched interface: address AND link events.

Netlink and PF_ROUTE messages are bytes constructed here from the kernels' structs
(``struct ifinfomsg`` + ``IFLA_IFNAME`` of linux/rtnetlink.h; FreeBSD's ``struct
if_msghdr`` + ``struct if_data`` of net/if.h); the real netlink socket runs in a namespace
of our own (root only). The old socket was bound to address events only and watched one
interface: a link going down, or any event on a second WAN, never woke the agent.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import struct
import sys
import uuid

import pytest

from s2s_agent.core import osio
from s2s_agent.observe.addrevents import (
    RTMGRP_IPV4_IFADDR,
    RTMGRP_LINK,
    AddressEvents,
    AddrEvent,
    decode_netlink,
    decode_route,
)
from tests.helpers.netns_events import events_in_netns


def nl_attr(t: int, v: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(v), t) + v
    return raw + b"\0" * (-len(raw) % 4)


def nl_link(mtype: int, index: int, name: str, flags: int) -> bytes:
    body = struct.pack("=BxHiII", 0, 1, index, flags, 0xFFFFFFFF)
    body += nl_attr(4, struct.pack("=I", 1500)) + nl_attr(3, name.encode() + b"\0")
    return struct.pack("=IHHII", 16 + len(body), mtype, 0, 0, 0) + body


def nl_addr(mtype: int, index: int, addr: str, label: str) -> bytes:
    body = struct.pack("=BBBBI", socket.AF_INET, 24, 0, 0, index)
    body += nl_attr(2, socket.inet_aton(addr)) + nl_attr(3, label.encode() + b"\0")
    return struct.pack("=IHHII", 16 + len(body), mtype, 0, 0, 0) + body


UP_LOWER = 0x1 | 0x2 | 0x1000 | 0x10000  # IFF_UP|BROADCAST|MULTICAST|LOWER_UP
NO_CARRIER = 0x1 | 0x2 | 0x1000  # administratively up, no carrier


def test_decode_netlink_link_messages():
    data = nl_link(16, 3, "wan0", UP_LOWER) + nl_link(16, 4, "wan2", NO_CARRIER)
    data += nl_link(16, 3, "wan0", 0x2 | 0x1000) + nl_link(17, 9, "gone0", UP_LOWER)
    assert decode_netlink(data) == [
        AddrEvent("link", 3, "wan0", None, True),
        AddrEvent("link", 4, "wan2", None, False),
        AddrEvent("link", 3, "wan0", None, False),  # ip link set wan0 down
        AddrEvent("link", 9, "gone0", None, False),  # RTM_DELLINK
    ]
    truncated = nl_link(16, 3, "wan0", UP_LOWER)[:20]
    assert decode_netlink(truncated) == []


def fb_ifinfo(index: int, flags: int, link_state: int) -> bytes:
    # struct if_msghdr: msglen, version, type, addrs, flags, index, spare; then if_data
    # (ifi_type, physical, addrlen, hdrlen, link_state, vhid, datalen, mtu, ...), 152 bytes
    if_data = struct.pack("=BBBBBBH", 6, 0, 6, 14, link_state, 0, 152) + b"\0" * 144
    return struct.pack("=HBBiiHH", 16 + len(if_data), 5, 0xE, 0, flags, index, 0) + if_data


def test_decode_route_ifinfo():
    up = 0x1 | 0x40 | 0x8000  # IFF_UP | IFF_DRV_RUNNING | IFF_MULTICAST
    data = fb_ifinfo(1, up, 2) + fb_ifinfo(2, up, 1) + fb_ifinfo(1, 0x40, 2)
    assert decode_route(data) == [
        AddrEvent("link", 1, None, None, True),
        AddrEvent("link", 2, None, None, False),  # LINK_STATE_DOWN: cable pulled
        AddrEvent("link", 1, None, None, False),  # ifconfig igb0 down
    ]


def test_one_socket_names_every_watched_interface_that_changed():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    ev = AddressEvents(a, ["wan0", "wan2"], "netlink")
    try:
        assert ev.drain_names() == set() and ev.interface is None
        b.send(nl_addr(20, 7, "100.64.0.9", "wan2"))
        b.send(nl_link(16, 3, "wan0", 0x2))
        b.send(nl_addr(20, 8, "10.0.0.1", "lan0"))  # not watched
        assert ev.drain_names() == {"wan0", "wan2"}
        b.send(nl_addr(21, 8, "10.0.0.1", "lan0"))
        assert ev.drain() is False and ev.last[0].ifname == "lan0"
        b.send(nl_addr(20, 7, "100.64.0.9", "wan2:1"))  # an alias label
        assert ev.drain_names() == {"wan2"}
    finally:
        ev.close()
        b.close()


def test_a_nameless_link_event_is_matched_by_index(monkeypatch):
    monkeypatch.setattr(socket, "if_nametoindex", {"igb0": 1, "igb1": 2}.__getitem__)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    ev = AddressEvents(a, ("igb0", "igb1"), "route")
    try:
        b.send(fb_ifinfo(2, 0x41, 1))
        assert ev.drain_names() == {"igb1"}
        b.send(fb_ifinfo(5, 0x41, 1))
        assert ev.drain_names() == set()
    finally:
        ev.close()
        b.close()


def test_the_socket_joins_the_link_group_too():
    assert RTMGRP_IPV4_IFADDR | RTMGRP_LINK == 0x11


# ---- real netlink in a namespace of our own -------------------------------------------

NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or not sys.platform.startswith("linux"),
    reason="needs root, Linux and iproute2 (network namespaces)",
)


@pytest.fixture
def netns():
    name = f"s2se{os.getpid()}-{uuid.uuid4().hex[:6]}"
    osio.run(["ip", "netns", "add", name])
    try:
        for argv in (
            ["link", "add", "w1", "type", "veth", "peer", "name", "w1p"],
            ["link", "add", "w2", "type", "veth", "peer", "name", "w2p"],
            ["link", "add", "lan0", "type", "bridge"],
        ):
            osio.run(["ip", "-n", name, *argv])
        for dev in ("w1", "w1p", "w2", "w2p", "lan0"):
            osio.run(["ip", "-n", name, "link", "set", dev, "up"])
        yield name
    finally:
        osio.run(["ip", "netns", "del", name], ok_codes=(0, 1))


def wait_names(ev: AddressEvents, want: str, timeout: float = 5) -> set[str]:
    got: set[str] = set()
    while want not in got and select.select([ev], [], [], timeout)[0]:
        got |= ev.drain_names()
    return got


@NEEDS_ROOT
def test_real_events_for_the_second_wan_address_and_for_a_link_going_down(netns):
    ev = events_in_netns(["ip", "netns", "exec", netns], None)
    ev.interfaces = frozenset(("w1", "w2"))  # the parent side filters, as the daemon does
    try:
        ev.drain_names()
        osio.run(["ip", "-n", netns, "addr", "add", "20.2.2.2/24", "dev", "w2"])
        assert "w2" in wait_names(ev, "w2"), "no event for the second WAN's new address"
        osio.run(["ip", "-n", netns, "link", "set", "w1", "down"])
        assert "w1" in wait_names(ev, "w1"), "no event for WAN1's link going down"
        assert any(e.kind == "link" and e.ifname == "w1" and e.up is False for e in ev.last)
        osio.run(["ip", "-n", netns, "link", "set", "w2p", "down"])  # the far end: no carrier
        assert "w2" in wait_names(ev, "w2"), "no event for WAN2 losing its carrier"
        osio.run(["ip", "-n", netns, "addr", "add", "10.9.9.9/24", "dev", "lan0"])
        assert wait_names(ev, "never", timeout=0.5) == set()  # lan0 is not watched
    finally:
        ev.close()
