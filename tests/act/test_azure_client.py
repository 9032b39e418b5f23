"""s2s_agent.act.azure against the fake Azure (real azure-identity + azure-mgmt-network)."""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path

import pytest

from s2s_agent.act.azure import (
    AzureAuthError,
    AzureBusyError,
    AzureClient,
    AzureError,
    AzureForbiddenError,
    AzureNotFoundError,
    AzureTimeoutError,
    AzureTokenEndpointError,
    parse_azure,
    read_private_file,
)
from s2s_agent.core.errors import ConfigError, S2SError
from tests.fakeazure import FakeAzure

NEW_IP = "203.0.113.77"
CFG = "/usr/local/etc/s2s-agent.yaml"
VOLATILE = ("etag", "provisioningState")  # what an update may change besides the IP


def write_private(path: Path, data: str | bytes, mode: int = 0o600) -> str:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)
    return str(path)


def section(fake: FakeAzure, **over) -> dict:
    data = {
        "tenant_id": fake.tenant_id,
        "client_id": fake.client_id,
        "client_secret_file": None,
        "client_certificate_file": None,
        "subscription_id": fake.names.subscription_id,
        "resource_group": fake.names.resource_group,
        "local_network_gateway": fake.names.lng_name,
        "connection": fake.names.connection_name,
        "cloud": "public",
        "authority": fake.url,
        "arm_endpoint": fake.url,
        "ca_bundle": fake.ca_path,
    }
    data.update(over)
    return data


class Sleeps(list):
    """Recorded sleeps (no real waiting); ``then`` runs on every call (Azure time passes)."""

    def __init__(self, then=None):
        super().__init__()
        self.then = then

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self.then:
            self.then()


def client_for(fake: FakeAzure, tmp_path: Path, *, secret: str | None = None, sleep=None, **over):
    if "client_certificate_file" not in over and "client_secret_file" not in over:
        path = write_private(tmp_path / "azure-secret", (secret or fake.client_secret) + "\n")
        over["client_secret_file"] = path
    settings = parse_azure(section(fake, **over), CFG)
    return AzureClient(
        settings,
        owner_uid=os.getuid(),
        polling_interval=0.01,
        backoff_base=0.01,
        backoff_max=0.05,
        sleep=sleep if sleep is not None else Sleeps(),
    )


@pytest.fixture
def fake(fake_azure: FakeAzure) -> FakeAzure:
    fake_azure.retry_after = 0  # LRO polls then use the client's polling_interval (fast)
    return fake_azure


def without_volatile(resource: dict) -> dict:
    r = copy.deepcopy(resource)
    r.pop("etag")
    for k in VOLATILE:
        r["properties"].pop(k, None)
    return r


def test_get_lng(fake: FakeAzure, tmp_path: Path) -> None:
    lng = client_for(fake, tmp_path).get_lng()
    assert lng.ip == fake.names.gateway_ip
    assert lng.etag == fake.lng()["etag"]
    assert lng.id == fake.lng_id
    assert lng.address_prefixes == tuple(fake.names.address_prefixes)
    assert lng.provisioning_state == "Succeeded"
    assert lng.as_dict()["address_prefixes"] == fake.names.address_prefixes


def test_no_write_when_ip_matches(fake: FakeAzure, tmp_path: Path) -> None:
    res = client_for(fake, tmp_path).update_lng_ip(fake.names.gateway_ip)
    assert (res.changed, res.attempts, res.old_ip) == (False, 0, fake.names.gateway_ip)
    assert fake.arm_requests("PUT") == []


def test_update_preserves_every_other_property_and_sends_if_match(
    fake: FakeAzure, tmp_path: Path
) -> None:
    with fake.arm.lock:  # richer LNG than the seed: BGP, FQDN, tags
        lng = fake.arm.resources[fake.lng_id.lower()]
        lng["tags"] = {"owner": "netops", "site": "office"}
        lng["properties"]["fqdn"] = "office.example.net"
        lng["properties"]["bgpSettings"] = {
            "asn": 65010,
            "bgpPeeringAddress": "192.168.1.254",
            "peerWeight": 0,
        }
        lng["properties"]["localNetworkAddressSpace"]["addressPrefixes"] = [
            "192.168.1.0/24",
            "192.168.7.0/24",
        ]
    before = fake.lng()
    res = client_for(fake, tmp_path).update_lng_ip(NEW_IP)
    assert (res.changed, res.old_ip, res.new_ip, res.attempts) == (
        True,
        before["properties"]["gatewayIpAddress"],
        NEW_IP,
        1,
    )
    after = fake.lng()
    assert after["properties"]["gatewayIpAddress"] == NEW_IP
    assert after["properties"]["provisioningState"] == "Succeeded"
    expected = without_volatile(before)
    expected["properties"]["gatewayIpAddress"] = NEW_IP
    assert without_volatile(after) == expected
    (put,) = fake.arm_requests("PUT")
    assert put["headers"]["If-Match"] == before["etag"]
    assert put["body"]["tags"] == {"owner": "netops", "site": "office"}
    assert put["body"]["properties"]["bgpSettings"]["asn"] == 65010


def test_412_once_then_success_after_reread(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.add("PUT", r"/localNetworkGateways/", status=412, times=1)
    res = client_for(fake, tmp_path).update_lng_ip(NEW_IP)
    assert res.changed and res.attempts == 2
    assert [r["status"] for r in fake.arm_requests("PUT")] == [412, 200]
    lng_gets = [r for r in fake.arm_requests("GET") if r["path"] == fake.lng_id]
    assert len(lng_gets) >= 2  # re-read between the two PUTs
    assert fake.lng()["properties"]["gatewayIpAddress"] == NEW_IP


def test_412_twice_fails(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.add("PUT", r"/localNetworkGateways/", status=412, times=2)
    with pytest.raises(AzureError) as err:
        client_for(fake, tmp_path).update_lng_ip(NEW_IP)
    assert err.value.status == 412
    assert len(fake.arm_requests("PUT")) == 2


def test_bad_secret_is_auth_error_without_the_secret(
    fake: FakeAzure, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = "wrong~Secret-0123456789"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AzureAuthError) as err:
        client_for(fake, tmp_path, secret=bad).get_lng()
    text = str(err.value)
    assert err.value.aadsts == "AADSTS7000215"
    assert "AADSTS7000215" in text
    assert str(tmp_path / "azure-secret") in text
    assert fake.client_id in text and fake.tenant_id in text
    assert bad not in text and bad not in repr(err.value)
    assert bad not in caplog.text
    assert fake.arm_requests() == []


def test_403_names_the_action_and_the_role_file(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.deny_action("Microsoft.Network/localNetworkGateways/write")
    with pytest.raises(AzureForbiddenError) as err:
        client_for(fake, tmp_path).update_lng_ip(NEW_IP)
    assert err.value.action == "Microsoft.Network/localNetworkGateways/write"
    assert err.value.scope == fake.lng_id
    assert "Microsoft.Network/localNetworkGateways/write" in str(err.value)
    assert "etc/azure-role.json" in str(err.value)
    assert fake.lng()["properties"]["gatewayIpAddress"] == fake.names.gateway_ip


def test_404_names_the_resource_id(fake: FakeAzure, tmp_path: Path) -> None:
    client = client_for(fake, tmp_path, local_network_gateway="lng-missing")
    with pytest.raises(AzureNotFoundError) as err:
        client.get_lng()
    rid = fake.names.resource_id("localNetworkGateways", "lng-missing")
    assert err.value.resource_id == rid
    assert rid in str(err.value)
    assert err.value.code == "ResourceNotFound"


def test_409_busy(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.add("PUT", r"/localNetworkGateways/", status=409, times=1)
    with pytest.raises(AzureBusyError, match="retry later") as err:
        client_for(fake, tmp_path).update_lng_ip(NEW_IP)
    assert err.value.code == "AnotherOperationInProgress"
    assert fake.lng()["properties"]["gatewayIpAddress"] == fake.names.gateway_ip


def test_429_honours_retry_after(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.add("PUT", r"/localNetworkGateways/", status=429, retry_after=7)
    sleeps = Sleeps()
    res = client_for(fake, tmp_path, sleep=sleeps).update_lng_ip(NEW_IP, deadline_s=60)
    assert res.changed
    assert sleeps == [7.0]
    assert [r["status"] for r in fake.arm_requests("PUT")] == [429, 200]


def test_retry_after_beyond_deadline_gives_up(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.add("GET", r"/localNetworkGateways/", status=429, retry_after=600)
    sleeps = Sleeps()
    with pytest.raises(AzureTimeoutError, match="deadline"):
        client_for(fake, tmp_path, sleep=sleeps).get_lng(deadline_s=30)
    assert sleeps == []


def test_500_twice_then_success_with_capped_backoff(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.add("PUT", r"/localNetworkGateways/", status=500, times=2)
    sleeps = Sleeps()
    assert client_for(fake, tmp_path, sleep=sleeps).update_lng_ip(NEW_IP).changed
    assert [r["status"] for r in fake.arm_requests("PUT")] == [500, 500, 200]
    assert sleeps == [0.01, 0.02]  # base 0.01, doubling; SDK retries off (no multiplying)


def test_backoff_is_capped(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.add("GET", r"/localNetworkGateways/", status=503, times=5)
    sleeps = Sleeps()
    client_for(fake, tmp_path, sleep=sleeps).get_lng()
    assert sleeps == [0.01, 0.02, 0.04, 0.05, 0.05]


def test_persistent_500_ends_at_the_deadline(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.add("GET", r"/localNetworkGateways/", status=500, times=None)
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    client = client_for(fake, tmp_path, sleep=sleep)
    client.clock = lambda: now[0]
    with pytest.raises(AzureTimeoutError) as err:
        client.get_lng(deadline_s=1.0)
    assert err.value.status == 500 and err.value.code == "InternalServerError"
    assert 0.9 <= now[0] <= 1.0


def test_dropped_connection_then_success(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.drop_connection("GET", r"/localNetworkGateways/")
    assert client_for(fake, tmp_path).get_lng().ip == fake.names.gateway_ip
    assert [r["status"] for r in fake.arm_requests("GET")] == ["dropped", 200]


def test_lost_put_answer_converges_by_rereading(fake: FakeAzure, tmp_path: Path) -> None:
    # The PUT is applied but its answer is lost; the retry meets a changed etag / the running
    # operation. The client must re-read, see its IP and wait, not fail.
    fake.faults.drop_connection("PUT", r"/localNetworkGateways/", after_processing=True)
    fake.faults.lro_delay = 1
    sleeps = Sleeps(then=fake.finish_operations)  # time passes: Azure finishes the update
    res = client_for(fake, tmp_path, sleep=sleeps).update_lng_ip(NEW_IP)
    assert res.changed
    statuses = [r["status"] for r in fake.arm_requests("PUT")]
    assert statuses[0] == "dropped (200 not sent)"
    assert all(s in (409, 412) for s in statuses[1:])
    assert fake.lng()["properties"]["gatewayIpAddress"] == NEW_IP
    assert fake.lng()["properties"]["provisioningState"] == "Succeeded"


def test_lro_failed(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.lro_fail(code="InternalServerError", message="Gateway update failed.")
    with pytest.raises(AzureError, match="Gateway update failed") as err:
        client_for(fake, tmp_path).update_lng_ip(NEW_IP)
    assert err.value.code == "InternalServerError"
    assert type(err.value) is AzureError


def test_slow_lro_beyond_deadline(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.lro_delay = 10_000
    with pytest.raises(AzureTimeoutError, match="before the deadline"):
        client_for(fake, tmp_path).update_lng_ip(NEW_IP, deadline_s=0.3)


def test_certificate_credential(fake: FakeAzure, tmp_path: Path) -> None:
    pem = write_private(tmp_path / "azure-cert.pem", Path(fake.client_cert_path).read_bytes())
    client = client_for(fake, tmp_path, client_certificate_file=pem)
    assert client.update_lng_ip(NEW_IP).changed
    token = [r for r in fake.requests if r["path"].endswith("/token")][0]
    assert "client_assertion" in token["body"] and "client_secret" not in token["body"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_credential_file_with_group_or_other_bits_is_refused(
    fake: FakeAzure, tmp_path: Path, mode: int
) -> None:
    path = write_private(tmp_path / "azure-secret", fake.client_secret, mode)
    client = client_for(fake, tmp_path, client_secret_file=path)
    with pytest.raises(ConfigError) as err:
        client.get_lng()
    assert path in str(err.value) and f"{mode:04o}" in str(err.value)
    assert f"chmod 600 {path}" in str(err.value)
    assert fake.client_secret not in str(err.value)
    assert fake.requests == []


def test_credential_file_owner_checked(tmp_path: Path) -> None:
    path = write_private(tmp_path / "s", "x")
    assert read_private_file(path, owner_uid=os.getuid()) == b"x"
    with pytest.raises(ConfigError, match=f"owned by uid {os.getuid()}, must be uid 4242"):
        read_private_file(path, owner_uid=4242)
    os.symlink(path, tmp_path / "link")
    with pytest.raises(ConfigError, match="is a symlink, refused"):
        read_private_file(str(tmp_path / "link"), owner_uid=os.getuid())


def test_connection_view_and_reset(fake: FakeAzure, tmp_path: Path) -> None:
    client = client_for(fake, tmp_path)
    conn = client.get_connection()
    assert conn.status == "Connected"
    assert conn.lng_id == fake.lng_id
    assert conn.ingress_bytes > 0 and conn.egress_bytes > 0
    fake.set_connection(connectionStatus="NotConnected")
    assert client.get_connection().as_dict()["status"] == "NotConnected"
    client.reset_connection()
    post = fake.arm_requests("POST")[0]
    assert post["path"].endswith("/resetconnection") and post["status"] == 202
    assert fake.connection()["properties"]["connectionStatus"] == "Connected"


def test_reset_connection_failure_and_missing_name(fake: FakeAzure, tmp_path: Path) -> None:
    fake.faults.lro_fail(message="reset failed")
    with pytest.raises(AzureError, match="reset failed"):
        client_for(fake, tmp_path).reset_connection()
    with pytest.raises(ConfigError, match="azure.connection"):
        client_for(fake, tmp_path, connection=None).get_connection()


def test_errors_are_one_family() -> None:
    for cls in (
        AzureAuthError,
        AzureForbiddenError,
        AzureNotFoundError,
        AzureBusyError,
        AzureTimeoutError,
    ):
        assert issubclass(cls, AzureError) and issubclass(cls, S2SError)


def test_repr_has_no_secret(fake: FakeAzure, tmp_path: Path) -> None:
    client = client_for(fake, tmp_path)
    client.get_lng()
    assert fake.client_secret not in repr(client)
    assert fake.client_secret not in repr(client.settings)


# ---- parse_azure (pure) --------------------------------------------------------------------
BASE = {
    "tenant_id": "72f988bf-0000-4000-8000-5a2b3c4d5e6f",
    "client_id": "3c1e2d4f-0000-4000-8000-000000c11e47",
    "client_secret_file": "/usr/local/etc/s2s-agent/azure-secret",
    "client_certificate_file": None,
    "subscription_id": "6d1c7a0e-52b1-4c59-9d6e-3f0a1b2c3d4e",
    "resource_group": "rg-s2s",
    "local_network_gateway": "lng-office",
    "connection": "conn-office",
}


@pytest.mark.parametrize(
    ("cloud", "authority", "arm"),
    [
        ("public", "https://login.microsoftonline.com", "https://management.azure.com"),
        ("usgov", "https://login.microsoftonline.us", "https://management.usgovcloudapi.net"),
        ("china", "https://login.chinacloudapi.cn", "https://management.chinacloudapi.cn"),
        (
            "AzureUSGovernment",
            "https://login.microsoftonline.us",
            "https://management.usgovcloudapi.net",
        ),
    ],
)
def test_cloud_presets(cloud: str, authority: str, arm: str) -> None:
    s = parse_azure({**BASE, "cloud": cloud}, CFG)
    assert (s.authority, s.arm_endpoint, s.scope) == (authority, arm, arm + "/.default")
    assert not s.custom_authority


def test_overrides_keep_the_cloud_audience() -> None:
    s = parse_azure(
        {**BASE, "authority": "https://127.0.0.1:8443/", "arm_endpoint": "https://127.0.0.1:8443"},
        CFG,
    )
    assert (s.authority, s.arm_endpoint) == ("https://127.0.0.1:8443", "https://127.0.0.1:8443")
    assert s.scope == "https://management.azure.com/.default" and s.custom_authority
    assert s.lng_id.endswith(
        "/resourceGroups/rg-s2s/providers/Microsoft.Network/localNetworkGateways/lng-office"
    )


@pytest.mark.parametrize(
    ("over", "key"),
    [
        ({"client_id": "not-a-guid"}, "azure.client_id"),
        ({"subscription_id": None}, "azure.subscription_id"),
        ({"client_certificate_file": "/x.pem"}, "azure.client_secret_file"),
        ({"client_secret_file": None}, "azure.client_secret_file"),
        ({"client_secret_file": "relative/secret"}, "azure.client_secret_file"),
        ({"cloud": "mars"}, "azure.cloud"),
        ({"authority": "http://login.example"}, "azure.authority"),
        ({"arm_endpoint": "https://x/some/path"}, "azure.arm_endpoint"),
        ({"resource_group": "bad/rg"}, "azure.resource_group"),
        ({"local_network_gateway": ""}, "azure.local_network_gateway"),
        ({"colud": "public"}, "azure.colud"),
    ],
)
def test_parse_errors_name_the_key(over: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_azure({**BASE, **over}, CFG)
    assert err.value.key == key and err.value.path == CFG


def test_missing_section() -> None:
    with pytest.raises(ConfigError) as err:
        parse_azure(None, CFG)
    assert err.value.key == "azure"


# ---- etc/azure-role.json -------------------------------------------------------------------
ROLE = Path(__file__).resolve().parents[2] / "etc" / "azure-role.json"
# The fake authorizes operationResults polls with locations/operations/read as well.
NOT_CHECKED_BY_FAKE = {"Microsoft.Network/locations/operationResults/read"}


def test_role_definition_shape() -> None:
    import json

    role = json.loads(ROLE.read_text())
    assert role["IsCustom"] is True and role["Name"] and role["Description"]
    assert role["NotActions"] == []
    assert all(a.startswith("Microsoft.Network/") and "*" not in a for a in role["Actions"])
    assert all("/resourceGroups/" in s for s in role["AssignableScopes"])


def test_every_role_action_is_needed_and_named_when_missing(
    fake: FakeAzure, tmp_path: Path
) -> None:
    import json

    actions = set(json.loads(ROLE.read_text())["Actions"]) - NOT_CHECKED_BY_FAKE
    assert len(actions) == 5
    for action in sorted(actions):
        fake.reset()
        fake.retry_after = 0
        fake.faults.deny_action(action)
        client = client_for(fake, tmp_path)
        with pytest.raises(AzureForbiddenError) as err:
            client.update_lng_ip(NEW_IP)
            client.get_connection()
            client.reset_connection()
        assert err.value.action == action, action
        assert action in str(err.value)


# --- the token endpoint: network, TLS and server failures are not the credential's fault ---


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_token_endpoint_unreachable_is_not_blamed_on_the_credential(
    fake: FakeAzure, tmp_path: Path
) -> None:
    sleeps = Sleeps()
    secret = "s3cret~value-0123456789"
    client = client_for(
        fake, tmp_path, secret=secret, sleep=sleeps, authority=f"https://127.0.0.1:{_free_port()}"
    )
    client._network()  # the SDK's import is not what this test times
    with pytest.raises(AzureTimeoutError) as err:  # retried (bounded by the deadline)
        client.get_lng(deadline_s=1)
    text = str(err.value)
    assert (
        "cannot reach the token endpoint https://127.0.0.1:" in text
        and "Connection refused" in text
    )
    assert "refused our credential" not in text and "expired" not in text
    assert "the credential was not tried" in text and secret not in text
    assert len(sleeps) >= 1 and fake.arm_requests() == []


def test_token_endpoint_with_an_untrusted_certificate_says_ca_bundle(
    fake: FakeAzure, tmp_path: Path
) -> None:
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    sleeps = Sleeps()
    with pytest.raises(AzureTokenEndpointError) as err:  # permanent: not retried
        client_for(fake, tmp_path, sleep=sleeps, ca_bundle=str(other)).get_lng()
    assert err.value.reason == "tls" and sleeps == []
    text = str(err.value)
    assert "TLS certificate of the token endpoint" in text and "azure.ca_bundle" in text
    assert "refused our credential" not in text


def test_token_endpoint_500_is_retried_then_succeeds(fake: FakeAzure, tmp_path: Path) -> None:
    # Retry-After: 0, else MSAL itself answers the same 500 for 5 s without asking again
    fault = fake.faults.add("POST", r"/oauth2/v2.0/token", status=500, times=2, retry_after=0)
    sleeps = Sleeps()
    lng = client_for(fake, tmp_path, sleep=sleeps).get_lng()
    assert lng.ip == fake.names.gateway_ip and fault.hits == 2 and len(sleeps) == 2


def test_token_endpoint_500_until_the_deadline_says_whose_failure(
    fake: FakeAzure, tmp_path: Path
) -> None:
    fake.faults.add("POST", r"/oauth2/v2.0/token", status=503, times=None)
    with pytest.raises(AzureTimeoutError) as err:
        client_for(fake, tmp_path).get_lng(deadline_s=0.5)
    text = str(err.value)
    assert "token endpoint" in text and "HTTP 503" in text and "Entra ID's own failure" in text
    assert "refused our credential" not in text
    assert fake.arm_requests() == []


def test_a_rejected_credential_is_still_named_as_such(fake: FakeAzure, tmp_path: Path) -> None:
    sleeps = Sleeps()
    with pytest.raises(AzureAuthError) as err:
        client_for(fake, tmp_path, secret="wrong-secret-value", sleep=sleeps).get_lng()
    assert err.value.aadsts and "refused our credential" in str(err.value) and sleeps == []


def test_the_installed_sdk_models_are_rest_shaped() -> None:
    """azure.py reads ``model.as_dict()["properties"]["gatewayIpAddress"]``: true from
    azure-mgmt-network 31.0.0 on (30.x gives ``gateway_ip_address`` at the top level), so
    pyproject.toml pins that minimum."""
    import re
    import tomllib

    from azure.mgmt.network import models

    rest = {
        "id": "/x",
        "name": "lng",
        "location": "westeurope",
        "properties": {
            "gatewayIpAddress": "192.0.2.1",
            "localNetworkAddressSpace": {"addressPrefixes": ["10.0.0.0/24"]},
        },
    }
    d = models.LocalNetworkGateway(rest).as_dict()
    assert d["properties"]["gatewayIpAddress"] == "192.0.2.1"
    deps = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    pin = next(x for x in deps["project"]["dependencies"] if x.startswith("azure-mgmt-network"))
    assert tuple(int(p) for p in re.search(r">=([\d.]+)", pin).group(1).split(".")) >= (31, 0, 0)
