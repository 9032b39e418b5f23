"""The multi-WAN, multi-tunnel lab (issue 10 groundwork), without the agent.

``Scenario(multiwan=True)``: onprem has WAN1 (``wan0``) and WAN2 (``wan2``) behind a
gateway-group-like failover; three phase 1s go to two Azure VPN gateways described by two
LNGs in two subscriptions (con1 + active-active con4 on ``lng-pfsense``, con2 on
``lng-pfsense-b``). The fake Azure's gateway hook reprograms the azure charon per LNG; the
tests drive Azure with the real SDK (each subscription with its own service principal),
the way the agent will.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from s2s_agent.core.errors import CommandError
from tests.fakeazure import FakeAzure, Names
from tests.fakeazure.fixtures import secret_credential
from tests.fakeazure.tenancy import SITE_B
from tests.helpers.multiwan import NEW_WAN1, PINGS, bring_up, multiwan_lab, ping
from tests.lab import config
from tests.lab.agent import FakeAzureProc
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

LNG_A, LNG_B = config.LNG_A, config.LNG_B


# ---- pure: the scenario ------------------------------------------------------------------
def test_multiwan_scenario_is_opt_in_and_exclusive():
    assert [t.ike for t in config.tunnels(config.Scenario())] == ["con1"]
    sc = config.Scenario(multiwan=True)
    assert [(t.ike, t.gw, t.lng) for t in config.tunnels(sc)] == [
        ("con1", config.AZURE_GW1, LNG_A),
        ("con2", config.AZURE_GW2, LNG_B),
        ("con4", config.AZURE_GW4, LNG_A),
    ]
    with pytest.raises(ValueError, match="multiwan"):
        config.Scenario(multiwan=True, con2=True)


def test_azure_side_follows_each_lng():
    sc = config.Scenario(multiwan=True)
    text = config.azure_swanctl(sc, "198.51.100.2", {LNG_A: "198.51.100.2", LNG_B: "100.64.0.2"})
    blocks = dict(re.findall(r"^  (onprem\d?) \{(.*?)^  \}", text, re.S | re.M))
    assert "remote_addrs = 198.51.100.2" in blocks["onprem"]
    assert "remote_addrs = 198.51.100.2" in blocks["onprem4"]
    assert "remote_addrs = 100.64.0.2" in blocks["onprem2"]


# ---- the real lab ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from multiwan_lab(tmp_path_factory.mktemp("mlab"), "s2sm")


@pytest.fixture(scope="module")
def azure(mlab: Lab) -> Iterator[FakeAzure]:
    """Two subscriptions, two LNGs (holding the lab's WAN1 address), the lab's gateway hook."""
    site_b = Names(**SITE_B, gateway_ip=mlab.wan_ip)
    with FakeAzure(
        names=Names(gateway_ip=mlab.wan_ip), sites=(site_b,), on_lng_change=mlab.on_lng_change
    ) as fake:
        yield fake


def sa_local_hosts(lab: Lab) -> dict[str, str]:
    out = lab.swanctl("onprem", "--list-sas").stdout
    return dict(
        re.findall(
            r"^(con\d+): #\d+, ESTABLISHED, IKEv2.*?\n\s+local\s+'[^']*' @ ([\d.]+)", out, re.M
        )
    )


def put_lng_ip(fake: FakeAzure, lng: str, ip: str) -> None:
    """What the agent will do: GET, set gatewayIpAddress, PUT with If-Match, wait for the LRO."""
    from azure.mgmt.network import NetworkManagementClient

    site = fake.site(lng)
    p = site.principal
    cred = secret_credential(fake, p.client_secret, client_id=p.client_id)
    client = NetworkManagementClient(
        cred, site.names.subscription_id, base_url=fake.url, connection_verify=fake.ca_path
    )
    ops = client.local_network_gateways
    res = ops.get(site.names.resource_group, lng)
    res.gateway_ip_address = ip
    done = ops.begin_create_or_update(
        site.names.resource_group, lng, res, headers={"If-Match": res.etag}
    ).result()
    assert done.provisioning_state == "Succeeded"


def cannot_initiate(lab: Lab, ike: str) -> bool:
    res = lab.swanctl(
        "onprem", "--initiate", "--child", ike, "--timeout", "5", timeout=10, ok_codes=(0, 1)
    )
    return res.returncode != 0


def test_three_tunnels_on_two_gateways_are_up(mlab: Lab) -> None:
    assert all(ping(mlab, ike) for ike in PINGS)
    assert sa_local_hosts(mlab) == dict.fromkeys(PINGS, config.ONPREM_WAN)
    assert mlab.source_ip == config.ONPREM_WAN and mlab.active_wan == "wan1"


def test_failover_to_wan2_and_back_heals_after_each_lng_learns(mlab: Lab, azure: FakeAzure):
    try:
        mlab.failover("wan2")
        assert mlab.source_ip == config.ONPREM_WAN2
        # Azure still expects WAN1: the gateways refuse the new source
        assert cannot_initiate(mlab, "con1") and not ping(mlab, "con2")
        for lng in (LNG_A, LNG_B):
            put_lng_ip(azure, lng, config.ONPREM_WAN2)
        assert mlab.lng_ips == {LNG_A: config.ONPREM_WAN2, LNG_B: config.ONPREM_WAN2}
        mlab.reconfigure_onprem(config.ONPREM_WAN2)  # the agent's My identifier step
        bring_up(mlab)
        assert sa_local_hosts(mlab) == dict.fromkeys(PINGS, config.ONPREM_WAN2)
        # one PUT per LNG, not per tunnel (con1 and con4 share lng-pfsense)
        assert (azure.lng_writes(LNG_A), azure.lng_writes(LNG_B)) == (1, 1)

        mlab.failback()
        assert mlab.source_ip == config.ONPREM_WAN
        assert cannot_initiate(mlab, "con2")
        for lng in (LNG_A, LNG_B):
            put_lng_ip(azure, lng, config.ONPREM_WAN)
        mlab.reconfigure_onprem(config.ONPREM_WAN)
        bring_up(mlab)
        assert sa_local_hosts(mlab) == dict.fromkeys(PINGS, config.ONPREM_WAN)
        assert (azure.lng_writes(LNG_A), azure.lng_writes(LNG_B)) == (2, 2)
        assert azure.violations == []
    finally:
        restore(mlab)


def test_wan1_address_change_heals_only_after_both_lngs(mlab: Lab, azure: FakeAzure):
    original = mlab.wan_ip
    try:
        mlab.set_wan_ip(NEW_WAN1)
        mlab.reconfigure_onprem(NEW_WAN1)  # pfSense's rc.newwanip -> ipsec_configure()
        for t in config.tunnels(mlab.scenario):
            mlab.terminate_ike(t.ike, timeout=3, force=True)
        put_lng_ip(azure, LNG_A, NEW_WAN1)  # gateway A (con1 + active-active con4) learns
        for ike in ("con1", "con4"):
            mlab.initiate(ike)
            mlab.wait_for(lambda i=ike: ping(mlab, i), 20, what=f"ping over {ike}")
        assert cannot_initiate(mlab, "con2")  # gateway B's LNG still holds the old address
        put_lng_ip(azure, LNG_B, NEW_WAN1)
        bring_up(mlab)
        assert sa_local_hosts(mlab) == dict.fromkeys(PINGS, NEW_WAN1)
    finally:
        mlab.set_wan_ip(original)
        restore(mlab)


def restore(lab: Lab) -> None:
    """Back to WAN1 with its original address, both LNGs expecting it, all tunnels up."""
    if lab.active_wan != "wan1":
        lab.failback()
    lab.reconfigure_onprem(lab.wan_ip)
    lab.reprogram_azure_peer(lab.wan_ip)
    for t in config.tunnels(lab.scenario):
        lab.terminate_ike(t.ike, timeout=3, force=True)
    bring_up(lab)


def test_fake_azure_process_hook_reprograms_only_the_written_lng(mlab: Lab) -> None:
    """The path agent e2e tests take: the fake as a process in the onprem namespace, its
    --on-change-cmd hook (``python -m tests.lab azure-peer``, S2S_LNG_NAME) and one LNG
    whose PUTs keep failing."""
    azure = FakeAzureProc(mlab, second_site=True, fail_lngs=(f"{LNG_B}:500",))
    try:
        mlab.failover("wan2")
        assert azure.put_lng_ip(LNG_A, config.ONPREM_WAN2) == "Succeeded"
        with pytest.raises(CommandError, match="HTTP 500"):
            azure.put_lng_ip(LNG_B, config.ONPREM_WAN2)
        assert mlab.lng_ips == {LNG_A: config.ONPREM_WAN2, LNG_B: config.ONPREM_WAN}
        mlab.reconfigure_onprem(config.ONPREM_WAN2)  # the agent's My identifier step
        for ike in ("con1", "con4"):  # gateway A learnt the new address: both of its tunnels
            mlab.initiate(ike)
            mlab.wait_for(lambda i=ike: ping(mlab, i), 20, what=f"ping over {ike}")
        assert cannot_initiate(mlab, "con2")  # gateway B still expects WAN1
        lngs = azure.stats()["lngs"]
        assert (lngs[LNG_A]["writes"], lngs[LNG_B]["writes"], lngs[LNG_B]["puts"]) == (1, 0, 1)
        assert lngs[LNG_A]["gatewayIpAddress"] == config.ONPREM_WAN2
    finally:
        azure.stop()
        restore(mlab)
