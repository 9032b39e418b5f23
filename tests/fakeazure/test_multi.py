"""Several subscriptions, principals and LNGs in the fake, driven by the real SDK (issue 10)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from tests.fakeazure import FakeAzure, Names
from tests.fakeazure.fixtures import secret_credential
from tests.fakeazure.tenancy import SITE_B as SITE_B_NAMES

SUB_B = SITE_B_NAMES["subscription_id"]
SITE_B = Names(
    subscription_id=SUB_B,
    resource_group="rg-s2s-b",
    location="northeurope",
    lng_name="lng-pfsense-b",
    connection_name="cn-pfsense-azure-b",
    vng_name="vng-azure-b",
)
NEW_IP = "192.0.2.77"
FAST = {"retry_backoff_factor": 0.01, "retry_total": 1}


def client(fake: FakeAzure, sub: str, cred, **kwargs):
    from azure.mgmt.network import NetworkManagementClient

    return NetworkManagementClient(
        cred, sub, base_url=fake.url, connection_verify=fake.ca_path, **kwargs
    )


def clients(fake: FakeAzure, **kwargs):
    """(client A with principal A on sub A, client B with principal B on sub B, site B)."""
    site = fake.add_site(SITE_B)
    cred_b = secret_credential(
        fake, site.principal.client_secret, client_id=site.principal.client_id
    )
    a = client(fake, fake.names.subscription_id, secret_credential(fake), **kwargs)
    return a, client(fake, SUB_B, cred_b, **kwargs), site


def put_ip(c, names: Names, ip: str, **kwargs):
    lng = c.local_network_gateways.get(names.resource_group, names.lng_name)
    lng.gateway_ip_address = ip
    return c.local_network_gateways.begin_create_or_update(
        names.resource_group, names.lng_name, lng, headers={"If-Match": lng.etag}, **kwargs
    ).result()


def test_default_fake_has_one_site(fake_azure: FakeAzure) -> None:
    assert [s.names.lng_name for s in fake_azure.tenancy.sites] == ["lng-pfsense"]
    assert fake_azure.lng_writes() == 0


def test_each_principal_reads_and_writes_its_own_subscription(fake_azure: FakeAzure) -> None:
    a, b, site = clients(fake_azure)
    assert site.principal.client_id != fake_azure.client_id
    assert put_ip(b, SITE_B, NEW_IP).gateway_ip_address == NEW_IP
    assert fake_azure.lng("lng-pfsense-b")["location"] == "northeurope"
    conn = b.virtual_network_gateway_connections.get("rg-s2s-b", "cn-pfsense-azure-b")
    assert conn.local_network_gateway2.id.lower() == fake_azure.lng_id_of("lng-pfsense-b").lower()
    b.virtual_network_gateway_connections.begin_reset_connection(
        "rg-s2s-b", "cn-pfsense-azure-b"
    ).result()
    assert a.local_network_gateways.get("rg-s2s", "lng-pfsense").gateway_ip_address != NEW_IP
    assert fake_azure.violations == []


@pytest.mark.parametrize("which", ["a_on_b", "b_on_a"])
def test_a_principal_gets_403_on_the_other_subscription(fake_azure: FakeAzure, which) -> None:
    site = fake_azure.add_site(SITE_B)
    if which == "a_on_b":
        c, names = client(fake_azure, SUB_B, secret_credential(fake_azure), **FAST), SITE_B
    else:
        cred = secret_credential(
            fake_azure, site.principal.client_secret, client_id=site.principal.client_id
        )
        c, names = (
            client(fake_azure, fake_azure.names.subscription_id, cred, **FAST),
            fake_azure.names,
        )
    with pytest.raises(HttpResponseError) as err:
        c.local_network_gateways.get(names.resource_group, names.lng_name)
    assert err.value.status_code == 403 and err.value.error.code == "AuthorizationFailed"
    assert fake_azure.violations == []


def test_wrong_secret_of_the_second_principal_is_refused(fake_azure: FakeAzure) -> None:
    site = fake_azure.add_site(SITE_B)
    cred = secret_credential(
        fake_azure, fake_azure.client_secret, client_id=site.principal.client_id
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        client(fake_azure, SUB_B, cred, **FAST).local_network_gateways.get(
            "rg-s2s-b", "lng-pfsense-b"
        )


def test_reset_forgets_added_sites(fake_azure: FakeAzure) -> None:
    site = fake_azure.add_site(SITE_B)
    fake_azure.reset()
    assert len(fake_azure.tenancy.sites) == 1
    cred = secret_credential(
        fake_azure, site.principal.client_secret, client_id=site.principal.client_id
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        client(fake_azure, SUB_B, cred, **FAST).local_network_gateways.get(
            "rg-s2s-b", "lng-pfsense-b"
        )


def test_two_lngs_in_one_subscription_share_its_principal(fake_azure: FakeAzure) -> None:
    same_sub = Names(lng_name="lng-pfsense-2", connection_name="cn-2", vng_name="vng-azure-2")
    site = fake_azure.add_site(same_sub)
    assert site.principal.client_id == fake_azure.client_id
    a = client(fake_azure, fake_azure.names.subscription_id, secret_credential(fake_azure))
    put_ip(a, same_sub, NEW_IP)
    assert (fake_azure.lng_writes("lng-pfsense-2"), fake_azure.lng_writes("lng-pfsense")) == (1, 0)
    with pytest.raises(ValueError, match="already has an LNG"):
        fake_azure.add_site(same_sub)


@pytest.mark.parametrize("status", [500, 409])
def test_one_lngs_puts_fail_while_the_others_succeed(fake_azure: FakeAzure, status) -> None:
    a, b, _ = clients(fake_azure, **FAST)
    fault = fake_azure.fail_lng("lng-pfsense-b", status=status)
    assert put_ip(a, fake_azure.names, NEW_IP).gateway_ip_address == NEW_IP
    for _ in range(2):  # keeps failing (times=None)
        with pytest.raises(HttpResponseError) as err:
            put_ip(b, SITE_B, NEW_IP)
        assert err.value.status_code == status
    assert fake_azure.lng("lng-pfsense-b")["properties"]["gatewayIpAddress"] != NEW_IP
    assert fault.hits >= 2
    assert fake_azure.lng_writes("lng-pfsense") == 1 == fake_azure.lng_puts("lng-pfsense")
    assert fake_azure.lng_writes("lng-pfsense-b") == 0
    assert fake_azure.lng_puts("lng-pfsense-b") == fault.hits
    assert fake_azure.violations == []


def test_hook_sees_which_lng_changed(fake_azure: FakeAzure) -> None:
    seen = []
    fake_azure.on_lng_change = lambda old, new: seen.append(
        (new["name"], new["properties"]["gatewayIpAddress"])
    )
    a, b, _ = clients(fake_azure)
    put_ip(b, SITE_B, NEW_IP)
    put_ip(a, fake_azure.names, "192.0.2.78")
    assert seen == [("lng-pfsense-b", NEW_IP), ("lng-pfsense", "192.0.2.78")]


def test_constructor_sites_survive_reset() -> None:
    with FakeAzure(sites=(SITE_B,)) as fake:
        fake.reset()
        assert fake.site("lng-pfsense-b").principal.may_access(SUB_B)
        assert not fake.site("lng-pfsense-b").principal.may_access(fake.names.subscription_id)


def test_stats_endpoint_counts_per_lng(fake_azure: FakeAzure) -> None:
    import json
    import urllib.request

    _, b, _ = clients(fake_azure)
    put_ip(b, SITE_B, NEW_IP)
    ctx = __import__("ssl").create_default_context(cafile=fake_azure.ca_path)
    with urllib.request.urlopen(fake_azure.url + "/_fake/stats", context=ctx, timeout=5) as r:
        stats = json.load(r)["lngs"]
    assert stats["lng-pfsense-b"] == {
        "puts": 1,
        "writes": 1,
        "gatewayIpAddress": NEW_IP,
        "subscription_id": SUB_B,
    }
    assert stats["lng-pfsense"]["puts"] == 0
    assert not any(r["path"] == "/_fake/stats" for r in fake_azure.requests)


def test_subprocess_fake_with_second_site_and_failing_lng(tmp_path) -> None:
    import json
    import subprocess
    import sys

    info = tmp_path / "azure.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakeazure",
            "--info",
            str(info),
            "--second-site",
            "--fail-lng",
            "lng-pfsense-b:409",
            "--gateway-ip",
            "198.51.100.2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        json.loads(proc.stdout.readline())  # ready
        i = json.loads(info.read_text())
        assert [s["lng_name"] for s in i["sites"]] == ["lng-pfsense", "lng-pfsense-b"]
        a_site, b_site = i["sites"]
        assert a_site["client_id"] != b_site["client_id"] and b_site["subscription_id"] == SUB_B
        from azure.identity import ClientSecretCredential
        from azure.mgmt.network import NetworkManagementClient

        def mk(site):
            cred = ClientSecretCredential(
                i["tenant_id"],
                site["client_id"],
                site["client_secret"],
                authority=i["url"],
                disable_instance_discovery=True,
                connection_verify=i["ca_path"],
            )
            return NetworkManagementClient(
                cred,
                site["subscription_id"],
                base_url=i["url"],
                connection_verify=i["ca_path"],
                retry_total=0,
            )

        names_b = Names(**{k: b_site[k] for k in ("subscription_id", "resource_group", "lng_name")})
        with pytest.raises(HttpResponseError) as err:
            put_ip(mk(b_site), names_b, NEW_IP)
        assert err.value.status_code == 409
        names_a = Names(**{k: a_site[k] for k in ("subscription_id", "resource_group", "lng_name")})
        put_ip(mk(a_site), names_a, NEW_IP)
    finally:
        proc.terminate()
        proc.wait(10)
