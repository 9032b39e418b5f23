"""Every WAN source of the multi-tunnel loop: one kernel event socket wakes the monitor of
the interface that changed (not only the main tunnel's); a gateway group follows its active
member through the same hold as an address change (a flap writes nothing); the ``wake``
control command re-reads every source; status says which WAN each tunnel uses."""

from __future__ import annotations

import logging
import socket
import struct

import pytest

from s2s_agent import config, remedyloop
from s2s_agent.daemon import Daemon
from s2s_agent.multiloop import MultiRemedyLoop
from s2s_agent.observe import wanmonitor
from s2s_agent.observe.addrevents import AddressEvents
from tests.helpers.multiwan import GROUP

SUB_A = "00000000-1111-2222-3333-444444444444"
SUB_B = "00000000-1111-2222-3333-555555555555"
WAN1, WAN2 = "198.51.100.2", "100.64.0.2"


def cfg(tmp_path, hold=5.0, count=2, backend="none", resolver="kernel"):
    prof = {
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret_file": "/s/x.secret",
    }

    def t(ike, lng, sub, profile, wan):
        return {
            "ike": ike,
            "wan": wan,
            **({"pfsense": {"ikeid": int(ike[3:])}} if backend == "pfsense" else {}),
            "azure": {
                "profile": profile,
                "subscription_id": sub,
                "resource_group": "rg",
                "local_network_gateway": lng,
            },
        }

    data = {
        "agent": {"state_dir": str(tmp_path), "control_socket": str(tmp_path / "ctl.sock")},
        "azure_profiles": {"a": prof, "b": {**prof, "client_secret_file": "/s/y.secret"}},
        "wan": {"hold_seconds": hold, "hold_count": count, "allow_private": True},
        "tunnels": [
            t("con1", "lng-pfsense", SUB_A, "a", {**GROUP, "resolver": resolver}),
            t("con4", "lng-pfsense", SUB_A, "a", {**GROUP, "resolver": resolver}),
            t("con2", "lng-pfsense-b", SUB_B, "b", {"source": "interface", "interface": "wan1"}),
        ],
        "remediation": {"enabled": True, "local_backend": backend, "azure_status_interval": 0},
    }
    return config.parse(data, str(tmp_path / "c.yaml"))


@pytest.fixture
def events(monkeypatch):
    """The loop's one event socket, on a socketpair: the test plays the kernel."""
    opened: list = []
    peers: list = []

    def fake_open(interfaces):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        peers.append(b)
        ev = AddressEvents(a, interfaces, "netlink")
        opened.append(ev)
        return ev

    monkeypatch.setattr(remedyloop, "open_events", fake_open)
    yield opened, peers
    for b in peers:
        b.close()


def nl_addr(index: int, addr: str, label: str) -> bytes:
    def attr(t, v):
        raw = struct.pack("=HH", 4 + len(v), t) + v
        return raw + b"\0" * (-len(raw) % 4)

    body = struct.pack("=BBBBI", socket.AF_INET, 24, 0, 0, index)
    body += attr(2, socket.inet_aton(addr)) + attr(3, label.encode() + b"\0")
    return struct.pack("=IHHII", 16 + len(body), 20, 0, 0, 0) + body


def nl_link_down(index: int, name: str) -> bytes:
    body = struct.pack("=BxHiII", 0, 1, index, 0x1002, 1)
    name_attr = struct.pack("=HH", 4 + len(name) + 1, 3) + name.encode() + b"\0"
    body += name_attr + b"\0" * (-len(name_attr) % 4)
    return struct.pack("=IHHII", 16 + len(body), 16, 0, 0, 0) + body


class Worker:
    def __init__(self, name, calls):
        self.name, self.calls = name, calls

    def call(self, op, arg=None, *, deadline=0.0):
        self.calls.append((self.name, op, arg))
        return {"changed": True, "old_ip": WAN1}


def make(c, world: dict, clock: list):
    calls: list = []
    loop = MultiRemedyLoop(
        c,
        notify=lambda sev, msg: None,
        previous_wan=WAN1,
        workers=lambda name: Worker(name, calls),
        actions={
            "apply_local_ids": lambda items: "ok",
            "restart_ike": lambda t, s: "restarted",
            "verify": lambda t, s: "answered",
        },
    )
    for r in loop.multi.lngs.values():
        r.applied_ip = r.lng_ip = WAN1
    for m in loop.monitors.values():
        m.monotonic = lambda: clock[0]
    loop.monitors["interface wan1"].read = lambda s: (WAN1, "")
    return loop, calls


def test_one_socket_watches_every_interface_and_wakes_the_source_that_changed(tmp_path, events):
    opened, peers = events
    loop, _ = make(cfg(tmp_path), {}, [100.0])
    ev = opened[-1]
    assert loop.fileno() == ev.fileno()
    assert ev.interfaces == {"wan0", "wan1", "wan2"}  # each interface source and group member
    group, second = loop.monitors["gateway_group WAN_FAILOVER"], loop.monitors["interface wan1"]
    assert group.watch == {"wan0", "wan2"} and second.watch == {"wan1"}
    group.next_poll = second.next_poll = 500.0

    peers[-1].send(nl_addr(7, "198.51.100.77", "wan1"))  # the SECOND tunnel's WAN moves
    assert loop.wake() is True
    assert second.next_poll == 0.0 and second.due()  # read at once, not at poll_interval
    assert group.next_poll == 500.0

    peers[-1].send(nl_link_down(3, "wan0"))  # WAN1's link goes down: the group re-resolves
    assert loop.wake() is True and group.next_poll == 0.0

    peers[-1].send(nl_addr(9, "10.0.0.1", "lan0"))
    second.next_poll = group.next_poll = 500.0
    assert loop.wake() is False and (second.next_poll, group.next_poll) == (500.0, 500.0)
    loop.close()


def resolver(world):
    def read(group, members, *, allow_private=False, **_kw):
        m = members[0] if world["active"] == "wan1" else members[1]
        ip = WAN1 if world["active"] == "wan1" else WAN2
        via = {"source": "gateway_group", "resolver": "kernel", "group": group}
        via |= {"gateway": m.gateway, "tier": m.tier, "interface": m.interface, "address": ip}
        return ip, "", via

    return read


UP = [{"name": n, "health": "UP"} for n in ("con1", "con4", "con2")]


def run_for(loop, clock, seconds, step=0.5):
    end = clock[0] + seconds
    while clock[0] < end:
        loop.tick(UP)
        loop.wait(10)
        clock[0] += step


def test_a_flapping_member_writes_nothing_a_real_failover_writes_once(
    tmp_path, events, monkeypatch
):
    world = {"active": "wan1"}
    monkeypatch.setattr(wanmonitor, "kernel_group_ip", resolver(world))
    clock = [100.0]
    loop, calls = make(cfg(tmp_path, hold=5, count=2), world, clock)
    _, peers = events

    def switch(member):  # the member changes and the kernel says so (a link event)
        world["active"] = member
        peers[-1].send(nl_link_down(3, "wan0"))
        assert loop.wake()

    run_for(loop, clock, 2)
    # a flap: WAN1 down for 3 s (seen several times), back before the 5 s hold
    switch("wan2")
    run_for(loop, clock, 3)
    assert loop.monitors["gateway_group WAN_FAILOVER"].tracker.candidate == WAN2
    switch("wan1")
    run_for(loop, clock, 20)
    assert [c for c in calls if c[1] == "update-lng"] == []
    # a real failover: held past the hold -> one PUT for the group's LNG, none for the other
    switch("wan2")
    run_for(loop, clock, 8)
    puts = [(n, ip) for n, op, ip in calls if op == "update-lng"]
    assert puts == [("con1", WAN2)]
    st = loop.tunnel_status()
    rem = st["con4"]["remediation"]
    assert (rem["wan_source"], rem["wan_group"], rem["wan_gateway"], rem["wan_tier"]) == (
        "gateway_group WAN_FAILOVER",
        "WAN_FAILOVER",
        "WAN2GW",
        2,
    )
    assert (rem["wan_interface"], rem["wan_ip"], rem["applied_ip"]) == ("wan2", WAN2, WAN2)
    assert st["con2"]["remediation"]["wan_interface"] == "wan1"
    assert st["con2"]["remediation"]["wan_gateway"] is None
    # failback: the same path in reverse, one more PUT
    switch("wan1")
    run_for(loop, clock, 8)
    puts = [(n, ip) for n, op, ip in calls if op == "update-lng"]
    assert puts == [("con1", WAN2), ("con1", WAN1)]
    assert loop.tunnel_status()["con1"]["remediation"]["wan_gateway"] == "WAN1GW"
    loop.close()


def test_wake_command_rereads_every_source_at_once(tmp_path, events, caplog):
    c = cfg(tmp_path)
    d = Daemon(c)
    loop = d.remedy_loop
    for m in loop.wan_monitors():
        m.next_poll = 10**9
    with caplog.at_level(logging.INFO, logger="s2s_agent.daemon"):
        assert d._wake_command({"reason": "gateway.down WAN1GW\x1b[2J\n"}) == {"woken": True}
    assert all(m.next_poll == 0.0 for m in loop.wan_monitors())
    line = next(r.getMessage() for r in caplog.records if "wake" in r.getMessage())
    assert "gateway.down WAN1GW" in line and "\x1b" not in line and "\n" not in line
    assert d._wake_command({})["woken"] is True
    loop.close()
    d.remedy_loop = None
    assert d._wake_command({"reason": "x"})["woken"] is False


def test_the_resolver_pfsense_when_the_backend_is_else_the_kernel(tmp_path, events, monkeypatch):
    seen = []

    def pf(*a, **k):
        seen.append(("pf", a))
        return WAN2, "", None

    def kernel(*a, **k):
        seen.append(("kernel", a))
        return WAN1, "", None

    monkeypatch.setattr(wanmonitor, "pfsense_group_ip", pf)
    monkeypatch.setattr(wanmonitor, "kernel_group_ip", kernel)
    loop, _ = make(cfg(tmp_path, resolver="auto"), {}, [100.0])
    loop.monitors["gateway_group WAN_FAILOVER"].poll()
    assert seen[-1][0] == "kernel"  # local_backend none: the kernel's member state
    loop2, _ = make(cfg(tmp_path, backend="pfsense", resolver="auto"), {}, [100.0])
    loop2.monitors["gateway_group WAN_FAILOVER"].poll()
    assert seen[-1] == ("pf", ("WAN_FAILOVER", [1, 4]))  # one helper call for both phase 1s
    loop.close()
    loop2.close()


def test_a_single_azure_tunnel_on_a_group_shows_its_active_member(tmp_path, events, monkeypatch):
    world = {"active": "wan2"}
    monkeypatch.setattr(wanmonitor, "kernel_group_ip", resolver(world))
    one = config.parse(
        {
            "agent": {"state_dir": str(tmp_path)},
            "azure_profiles": {
                "a": {
                    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                    "client_id": "11111111-2222-3333-4444-555555555555",
                    "client_secret_file": "/s/x.secret",
                }
            },
            "wan": {"hold_seconds": 0, "hold_count": 1, "allow_private": True},
            "tunnels": [
                {
                    "ike": "con1",
                    "wan": GROUP,
                    "azure": {
                        "profile": "a",
                        "subscription_id": SUB_A,
                        "resource_group": "rg",
                        "local_network_gateway": "lng-pfsense",
                    },
                }
            ],
            "remediation": {"enabled": True, "local_backend": "none", "azure_status_interval": 0},
        },
        str(tmp_path / "one.yaml"),
    )
    loop = remedyloop.RemedyLoop(one, notify=lambda s, m: None, previous_wan=WAN1)
    assert type(loop) is remedyloop.RemedyLoop and opened_watch(events) == {"wan0", "wan2"}
    loop.wan.poll()
    rem = loop.status()["remediation"]
    assert (rem["wan_source"], rem["wan_gateway"], rem["wan_tier"], rem["wan_interface"]) == (
        "gateway_group WAN_FAILOVER",
        "WAN2GW",
        2,
        "wan2",
    )
    assert rem["wan_ip"] == WAN2
    loop.close()


def opened_watch(events) -> set:
    return set(events[0][-1].interfaces)
