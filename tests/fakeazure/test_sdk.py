"""The fake driven by the REAL clients: azure-identity + azure-mgmt-network (default api-version).

These tests prove the fake speaks Azure well enough for the SDK: if one fails after an SDK
upgrade, the fake (not the product) needs a look.
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)

from tests.fakeazure import SDK_API_VERSION, FakeAzure
from tests.fakeazure.fixtures import certificate_credential, network_client, secret_credential

NEW_IP = "203.0.113.77"
FAST_RETRY = {"retry_backoff_factor": 0.01}


def get_lng(client, fake: FakeAzure):
    return client.local_network_gateways.get(fake.names.resource_group, fake.names.lng_name)


def put_lng(client, fake: FakeAzure, lng, **kwargs):
    return client.local_network_gateways.begin_create_or_update(
        fake.names.resource_group, fake.names.lng_name, lng, **kwargs
    ).result()


def test_get_lng_with_client_secret(fake_azure: FakeAzure) -> None:
    lng = get_lng(network_client(fake_azure), fake_azure)
    assert lng.gateway_ip_address == fake_azure.names.gateway_ip
    assert lng.local_network_address_space.address_prefixes == fake_azure.names.address_prefixes
    assert lng.provisioning_state == "Succeeded"
    assert lng.etag == fake_azure.lng()["etag"]
    token_req = [r for r in fake_azure.requests if r["path"].endswith("/oauth2/v2.0/token")][0]
    assert token_req["body"]["scope"] == "https://management.azure.com/.default"
    assert token_req["body"]["client_secret"] == "***"  # recorded, but masked
    assert fake_azure.arm_requests("GET")[0]["query"]["api-version"] == SDK_API_VERSION


def test_update_ip_with_if_match_preserves_other_properties(fake_azure: FakeAzure) -> None:
    client = network_client(fake_azure)
    lng = get_lng(client, fake_azure)
    before = fake_azure.lng()
    lng.gateway_ip_address = NEW_IP
    result = put_lng(client, fake_azure, lng, headers={"If-Match": lng.etag})
    assert result.gateway_ip_address == NEW_IP
    assert result.provisioning_state == "Succeeded"
    assert result.local_network_address_space.address_prefixes == fake_azure.names.address_prefixes
    assert result.location == before["location"]
    assert result.etag not in (None, lng.etag)
    after = fake_azure.lng()
    assert after["properties"]["resourceGuid"] == before["properties"]["resourceGuid"]
    put = fake_azure.arm_requests("PUT")[0]
    assert put["headers"]["If-Match"] == lng.etag
    assert put["body"]["properties"]["gatewayIpAddress"] == NEW_IP
    assert put["status"] == 200
    # PUT -> Azure-AsyncOperation poll -> final GET of the resource
    polls = [r for r in fake_azure.arm_requests("GET") if "/operations/" in r["path"]]
    assert len(polls) == 1


def test_certificate_credential(fake_azure: FakeAzure) -> None:
    client = network_client(fake_azure, certificate_credential(fake_azure))
    lng = get_lng(client, fake_azure)
    lng.gateway_ip_address = NEW_IP
    assert put_lng(client, fake_azure, lng).gateway_ip_address == NEW_IP
    token_req = [r for r in fake_azure.requests if r["path"].endswith("/token")][0]
    assert token_req["body"]["client_assertion"] == "***"
    assert "client_secret" not in token_req["body"]


def test_certificate_not_registered(fake_azure: FakeAzure, tmp_path) -> None:
    import trustme

    other = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert(
        "intruder.invalid", key_type=trustme.KeyType.RSA
    )
    pem = tmp_path / "other.pem"
    pem.write_bytes(other.private_key_pem.bytes() + other.cert_chain_pems[0].bytes())
    client = network_client(fake_azure, certificate_credential(fake_azure, str(pem)))
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        get_lng(client, fake_azure)


def test_stale_etag_gives_412(fake_azure: FakeAzure) -> None:
    client = network_client(fake_azure)
    lng = get_lng(client, fake_azure)
    stale = lng.etag
    lng.gateway_ip_address = NEW_IP
    put_lng(client, fake_azure, lng, headers={"If-Match": stale})
    lng.gateway_ip_address = "203.0.113.78"
    with pytest.raises(HttpResponseError) as err:
        put_lng(client, fake_azure, lng, headers={"If-Match": stale})
    assert err.value.status_code == 412
    assert err.value.error.code == "PreconditionFailed"
    assert fake_azure.lng()["properties"]["gatewayIpAddress"] == NEW_IP


def test_bad_secret(fake_azure: FakeAzure) -> None:
    client = network_client(fake_azure, secret_credential(fake_azure, "wrong-secret"))
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215") as err:
        get_lng(client, fake_azure)
    assert "wrong-secret" not in str(err.value)
    assert fake_azure.arm_requests() == []


def test_unknown_client_and_tenant(fake_azure: FakeAzure) -> None:
    client = network_client(
        fake_azure, secret_credential(fake_azure, client_id="0" * 8 + "-0000-4000-8000-" + "0" * 12)
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        get_lng(client, fake_azure)
    client = network_client(
        fake_azure, secret_credential(fake_azure, tenant_id="11111111-0000-4000-8000-000000000000")
    )
    with pytest.raises(ClientAuthenticationError, match="authority"):
        get_lng(client, fake_azure)
    oidc = [r for r in fake_azure.requests if r["path"].startswith("/11111111")][0]
    assert oidc["status"] == 400


def test_authorization_failed(fake_azure: FakeAzure) -> None:
    fake_azure.faults.deny_action("Microsoft.Network/localNetworkGateways/write")
    client = network_client(fake_azure)
    lng = get_lng(client, fake_azure)  # read is still allowed
    lng.gateway_ip_address = NEW_IP
    with pytest.raises(HttpResponseError) as err:
        put_lng(client, fake_azure, lng)
    assert err.value.status_code == 403
    assert err.value.error.code == "AuthorizationFailed"
    message = err.value.error.message
    assert "'Microsoft.Network/localNetworkGateways/write'" in message
    assert f"The client '{fake_azure.client_id}'" in message
    assert f"over scope '{fake_azure.lng_id}'" in message
    assert fake_azure.lng()["properties"]["gatewayIpAddress"] == fake_azure.names.gateway_ip


def test_not_found(fake_azure: FakeAzure) -> None:
    client = network_client(fake_azure)
    with pytest.raises(ResourceNotFoundError) as err:
        client.local_network_gateways.get(fake_azure.names.resource_group, "lng-missing")
    assert err.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as err:
        client.local_network_gateways.get("rg-missing", fake_azure.names.lng_name)
    assert err.value.error.code == "ResourceGroupNotFound"


def test_conflict_while_an_operation_runs(fake_azure: FakeAzure) -> None:
    client = network_client(fake_azure)
    lng = get_lng(client, fake_azure)
    fake_azure.faults.lro_delay = 100  # first update stays InProgress
    lng.gateway_ip_address = NEW_IP
    client.local_network_gateways.begin_create_or_update(
        fake_azure.names.resource_group, fake_azure.names.lng_name, lng, polling=False
    ).result()
    assert fake_azure.lng()["properties"]["provisioningState"] == "Updating"
    lng.gateway_ip_address = "203.0.113.78"
    with pytest.raises(ResourceExistsError) as err:
        put_lng(client, fake_azure, lng)
    assert err.value.status_code == 409
    assert err.value.error.code == "AnotherOperationInProgress"
    fake_azure.finish_operations()
    assert fake_azure.lng()["properties"]["provisioningState"] == "Succeeded"


def test_throttled_then_success(fake_azure: FakeAzure) -> None:
    fault = fake_azure.faults.add("GET", r"/localNetworkGateways/", status=429, retry_after=1)
    assert get_lng(network_client(fake_azure), fake_azure).gateway_ip_address
    assert fault.hits == 1
    statuses = [r["status"] for r in fake_azure.arm_requests("GET")]
    assert statuses == [429, 200]


def test_server_error_then_success(fake_azure: FakeAzure) -> None:
    fake_azure.faults.add("PUT", r"/localNetworkGateways/", status=500, times=2)
    client = network_client(fake_azure, **FAST_RETRY)
    lng = get_lng(client, fake_azure)
    lng.gateway_ip_address = NEW_IP
    assert put_lng(client, fake_azure, lng).gateway_ip_address == NEW_IP
    assert [r["status"] for r in fake_azure.arm_requests("PUT")] == [500, 500, 200]


def test_lro_failed(fake_azure: FakeAzure) -> None:
    fake_azure.faults.lro_fail(code="InternalServerError", message="Gateway update failed.")
    client = network_client(fake_azure)
    lng = get_lng(client, fake_azure)
    lng.gateway_ip_address = NEW_IP
    with pytest.raises(HttpResponseError) as err:
        put_lng(client, fake_azure, lng)
    assert err.value.error.code == "InternalServerError"
    assert "Gateway update failed." in str(err.value)
    assert fake_azure.lng()["properties"]["provisioningState"] == "Failed"


def test_lro_in_progress_polls(fake_azure: FakeAzure) -> None:
    fake_azure.faults.lro_delay = 2
    fake_azure.retry_after = 0  # "Retry-After: 0" -> the SDK uses polling_interval
    client = network_client(fake_azure, polling_interval=0.01)
    lng = get_lng(client, fake_azure)
    lng.gateway_ip_address = NEW_IP
    assert put_lng(client, fake_azure, lng).provisioning_state == "Succeeded"
    polls = [r for r in fake_azure.arm_requests("GET") if "/operations/" in r["path"]]
    assert len(polls) == 3  # 2 x InProgress + Succeeded


def test_dropped_connection_is_retried(fake_azure: FakeAzure) -> None:
    fake_azure.faults.drop_connection("GET", r"/localNetworkGateways/")
    assert get_lng(network_client(fake_azure, **FAST_RETRY), fake_azure).gateway_ip_address
    assert [r["status"] for r in fake_azure.arm_requests("GET")] == ["dropped", 200]


def test_lost_put_answer_then_retry_meets_the_running_operation(fake_azure: FakeAzure) -> None:
    # The first PUT is applied but its answer is lost; the SDK retries the PUT while Azure
    # still runs the first update -> 409. A client must re-read the LNG, not fail hard.
    fake_azure.faults.drop_connection("PUT", r"/localNetworkGateways/", after_processing=True)
    fake_azure.faults.lro_delay = 1
    client = network_client(fake_azure, **FAST_RETRY)
    lng = get_lng(client, fake_azure)
    lng.gateway_ip_address = NEW_IP
    with pytest.raises(ResourceExistsError, match="AnotherOperationInProgress"):
        put_lng(client, fake_azure, lng)
    assert [r["status"] for r in fake_azure.arm_requests("PUT")] == ["dropped (200 not sent)", 409]
    assert fake_azure.lng()["properties"]["gatewayIpAddress"] == NEW_IP
    fake_azure.finish_operations()
    assert get_lng(client, fake_azure).provisioning_state == "Succeeded"


def test_expired_token_is_401(fake_azure: FakeAzure) -> None:
    client = network_client(fake_azure)
    get_lng(client, fake_azure)
    fake_azure.expire_tokens()
    with pytest.raises(ClientAuthenticationError) as err:
        get_lng(client, fake_azure)
    assert err.value.status_code == 401
    assert err.value.error.code == "ExpiredAuthenticationToken"


def test_connection_get_and_reset(fake_azure: FakeAzure) -> None:
    client = network_client(fake_azure)
    rg, name = fake_azure.names.resource_group, fake_azure.names.connection_name
    conn = client.virtual_network_gateway_connections.get(rg, name)
    assert conn.connection_status == "Connected"
    assert conn.connection_type == "IPsec"
    assert conn.local_network_gateway2.id == fake_azure.lng_id
    again = client.virtual_network_gateway_connections.get(rg, name)
    assert again.ingress_bytes_transferred > conn.ingress_bytes_transferred
    fake_azure.faults.lro_delay = 1
    fake_azure.retry_after = 0
    client = network_client(fake_azure, polling_interval=0.01)
    poller = client.virtual_network_gateway_connections.begin_reset_connection(rg, name)
    assert poller.result() is None
    post = fake_azure.arm_requests("POST")[0]
    assert post["path"].endswith("/resetconnection") and post["status"] == 202
    assert fake_azure.connection()["properties"]["connectionStatus"] == "Connected"
    # final-state-via: location -> the SDK ends with a GET of the Location (operationResults)
    assert "/operationResults/" in fake_azure.arm_requests("GET")[-1]["path"]
    fake_azure.faults.lro_fail(code="InternalServerError", message="reset failed")
    with pytest.raises(HttpResponseError, match="reset failed"):
        client.virtual_network_gateway_connections.begin_reset_connection(rg, name).result()
    assert fake_azure.connection()["properties"]["connectionStatus"] == "NotConnected"


def test_api_version_accepted_and_rejected(fake_azure: FakeAzure) -> None:
    from tests.fakeazure import SPEC_API_VERSION

    client = network_client(fake_azure)
    rg, name = fake_azure.names.resource_group, fake_azure.names.lng_name
    assert client.local_network_gateways.get(rg, name, api_version=SPEC_API_VERSION).etag
    with pytest.raises(HttpResponseError) as err:
        client.local_network_gateways.get(rg, name, api_version="2018-01-01")
    assert err.value.status_code == 400
    assert err.value.error.code == "InvalidApiVersionParameter"
