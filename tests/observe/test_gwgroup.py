"""The ``kernel`` gateway-group resolver: each member's link and address read through the
command seam (replayed real outputs), and for real in a namespace of our own (root)."""

from __future__ import annotations

import os
import shutil
import sys
import uuid

import pytest

from s2s_agent.config.tunnels import GroupMember
from s2s_agent.core import osio
from s2s_agent.core.errors import CommandError
from s2s_agent.observe.gwgroup import kernel_group_ip

MEMBERS = (GroupMember("WAN1GW", 1, "w1"), GroupMember("WAN2GW", 2, "w2"))
LINK = {
    "up": "3: {d}@{d}p: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP\n",
    "down": "3: {d}@{d}p: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN\n",
}
ADDR = {"w1": "198.51.100.2", "w2": "100.64.0.2"}


def fake(links: dict[str, str], missing: tuple[str, ...] = ()):
    def run(argv, *, timeout, ok_codes=(0,)):
        dev = argv[-1]
        if dev in missing:
            raise CommandError(argv, f'Device "{dev}" does not exist.', returncode=1)
        if argv[1] == "-o":
            return osio.Result(list(argv), 0, LINK[links[dev]].format(d=dev), "")
        line = f"3: {dev}    inet {ADDR[dev]}/24 scope global {dev}\\       valid_lft forever\n"
        return osio.Result(list(argv), 0, line, "")

    return run


def test_kernel_resolver_follows_the_first_tier_up():
    ip, why, via = kernel_group_ip(
        "WAN_FAILOVER",
        MEMBERS,
        allow_private=True,
        run=fake({"w1": "up", "w2": "up"}),
        system="linux",
    )
    assert (ip, why, via["gateway"], via["tier"], via["interface"]) == (
        "198.51.100.2",
        "",
        "WAN1GW",
        1,
        "w1",
    )
    ip, _, via = kernel_group_ip(
        "WAN_FAILOVER",
        MEMBERS,
        allow_private=True,
        run=fake({"w1": "down", "w2": "up"}),
        system="linux",
    )
    assert (ip, via["gateway"], via["resolver"]) == ("100.64.0.2", "WAN2GW", "kernel")


def test_kernel_resolver_reasons():
    ip, why, via = kernel_group_ip(
        "G", MEMBERS, allow_private=True, run=fake({}, missing=("w1", "w2")), system="linux"
    )
    assert ip is None and via is None and "gateway group G: no member is up" in why
    assert "w1" in why and "does not exist" in why
    ip, why, via = kernel_group_ip(
        "G", MEMBERS, run=fake({"w1": "down", "w2": "up"}), system="linux"
    )
    assert ip is None and "100.64.0.2" in why and via["gateway"] == "WAN2GW"  # CGNAT, not allowed


def test_kernel_resolver_on_freebsd_reads_ifconfig_once_per_member():
    seen = []

    def run(argv, *, timeout, ok_codes=(0,)):
        seen.append(list(argv))
        status = "no carrier" if argv[1] == "w1" else "active"
        text = (
            f"{argv[1]}: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n"
            f"\tinet {ADDR[argv[1]]} netmask 0xffffff00 broadcast 1.2.3.255\n\tstatus: {status}\n"
        )
        return osio.Result(list(argv), 0, text, "")

    ip, _, via = kernel_group_ip("G", MEMBERS, allow_private=True, run=run, system="freebsd14")
    assert (ip, via["interface"]) == ("100.64.0.2", "w2")
    assert seen == [["ifconfig", "w1"], ["ifconfig", "w2"]]


NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or not sys.platform.startswith("linux"),
    reason="needs root, Linux and iproute2 (network namespaces)",
)


@NEEDS_ROOT
def test_kernel_resolver_real_failover_and_failback_in_netns():
    ns = f"s2sg{os.getpid()}-{uuid.uuid4().hex[:6]}"
    osio.run(["ip", "netns", "add", ns])

    def run(argv, **kw):
        return osio.run(["ip", "netns", "exec", ns, *argv], **kw)

    try:
        for dev, addr in (("w1", "198.51.100.2/24"), ("w2", "100.64.0.2/24")):
            osio.run(
                ["ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", dev + "p"]
            )
            osio.run(["ip", "-n", ns, "addr", "add", addr, "dev", dev])
            for d in (dev, dev + "p"):
                osio.run(["ip", "-n", ns, "link", "set", d, "up"])

        def resolve():
            return kernel_group_ip("G", MEMBERS, allow_private=True, run=run, system="linux")[0]

        assert resolve() == "198.51.100.2"
        osio.run(["ip", "-n", ns, "link", "set", "w1", "down"])  # WAN1 dies
        assert resolve() == "100.64.0.2"
        osio.run(["ip", "-n", ns, "link", "set", "w1", "up"])
        assert resolve() == "198.51.100.2"  # failback
        osio.run(["ip", "-n", ns, "link", "set", "w1p", "down"])  # the far end: no carrier
        assert resolve() == "100.64.0.2"
    finally:
        osio.run(["ip", "netns", "del", ns], ok_codes=(0, 1))
