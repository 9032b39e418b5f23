from s2s_agent.core import osio
from s2s_agent.core.errors import CommandError
from s2s_agent.observe.ha import carp_role, parse_carp

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
    role, why = carp_role(
        "igb0", 1, runner=runner_with(exc=CommandError(["ifconfig"], "timed out after 5s"))
    )
    assert role == "unknown" and "timed out" in why


# --- the CARP VIP's address is the one Azure must hold ------------------------------------


def test_vip_wan_ip_reads_the_vhid_address_not_the_node_address():
    from s2s_agent.observe.ha import vip_wan_ip

    run = runner_with(IFCONFIG)
    kw = {"allow_private": True, "run": run, "system": "freebsd14"}
    assert vip_wan_ip("igb0", 1, **kw) == ("203.0.113.10", "")
    assert vip_wan_ip("igb0", 2, **kw) == ("203.0.113.11", "")
    ip, why = vip_wan_ip("igb0", 7, **kw)
    assert ip is None and "no address with CARP vhid 7" in why
    ip, why = vip_wan_ip("igb0", 1, run=run, system="freebsd14")  # TEST-NET is not public
    assert ip is None and "vhid 1" in why
    boom = runner_with(exc=CommandError(["ifconfig"], "timed out after 5s"))
    ip, why = vip_wan_ip("igb0", 1, run=boom, system="freebsd14")
    assert ip is None and "timed out" in why


def _cfg(source="interface", carp=("igb0", 1)):
    from types import SimpleNamespace

    rem = SimpleNamespace(carp_interface=carp[0], carp_vhid=carp[1])
    return SimpleNamespace(wan=SimpleNamespace(source=source), remediation=rem)


def test_wan_reader_uses_the_vip_only_for_a_carp_tunnel_on_the_interface_source():
    from s2s_agent.observe.ha import wan_reader
    from s2s_agent.observe.wanwatch import read_wan_ip

    assert wan_reader(_cfg(carp=(None, None))) is read_wan_ip
    assert wan_reader(_cfg(source="http")) is read_wan_ip  # the echo sees the NATed address
    read = wan_reader(_cfg())
    assert read is not read_wan_ip


def test_wan_reader_for_carp_reads_the_vip(monkeypatch):
    from types import SimpleNamespace

    from s2s_agent.observe import ha

    seen = {}

    def fake_vip(interface, vhid, *, allow_private=False, **_):
        seen.update(interface=interface, vhid=vhid, allow_private=allow_private)
        return "203.0.113.10", ""

    monkeypatch.setattr(ha, "vip_wan_ip", fake_vip)
    read = ha.wan_reader(_cfg())
    assert read(SimpleNamespace(allow_private=True)) == ("203.0.113.10", "")
    assert seen == {"interface": "igb0", "vhid": 1, "allow_private": True}


def test_vip_wan_ip_on_freebsd_asks_ifconfig_for_inet():
    from s2s_agent.observe.ha import vip_wan_ip

    calls = []

    def run(argv, timeout, **_):
        calls.append(argv)
        return osio.Result(tuple(argv), 0, IFCONFIG, "")

    ip, _ = vip_wan_ip("igb0", 1, allow_private=True, run=run, system="freebsd14")
    assert ip == "203.0.113.10"
    assert calls == [["ifconfig", "igb0", "inet"]]
