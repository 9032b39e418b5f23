from s2s_agent import osio
from s2s_agent.errors import CommandError
from s2s_agent.ha import carp_role, parse_carp

# FreeBSD 14 `ifconfig igb0` on a pfSense CARP pair (format of sbin/ifconfig/carp.c)
IFCONFIG = """igb0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500
\toptions=4e527bb<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,JUMBO_MTU,VLAN_HWCSUM,TSO4,TSO6,LRO>
\tether 00:08:a2:0c:11:22
\tinet 203.0.113.2 netmask 0xffffff00 broadcast 203.0.113.255
\tinet 203.0.113.10 netmask 0xffffff00 broadcast 203.0.113.255 vhid 1
\tinet 203.0.113.11 netmask 0xffffff00 broadcast 203.0.113.255 vhid 2
\tcarp: MASTER vhid 1 advbase 1 advskew 0
\tcarp: BACKUP vhid 2 advbase 1 advskew 100
\tmedia: Ethernet autoselect (1000baseT <full-duplex>)
\tstatus: active
"""


def runner_with(text=None, exc=None):
    def run(argv, timeout, **_):
        if exc:
            raise exc
        return osio.Result(tuple(argv), 0, text, "")
    return run


def test_parse_carp():
    assert parse_carp(IFCONFIG) == {1: "MASTER", 2: "BACKUP"}
    assert parse_carp("garbage\x00") == {}


def test_roles():
    assert carp_role(None, None)[0] == "standalone"
    assert carp_role("igb0", 1, runner=runner_with(IFCONFIG))[0] == "master"
    role, why = carp_role("igb0", 2, runner=runner_with(IFCONFIG))
    assert role == "backup" and "observing only" in why
    assert carp_role("igb0", 9, runner=runner_with(IFCONFIG))[0] == "unknown"
    role, why = carp_role("igb0", 1, runner=runner_with(exc=CommandError(["ifconfig"], "timed out after 5s")))
    assert role == "unknown" and "timed out" in why
