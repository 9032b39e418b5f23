"""The fake's own behaviour, with raw HTTPS requests where the SDK would hide the details."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from pathlib import Path

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key

from tests.fakeazure import SPEC_API_VERSION, FakeAzure
from tests.fakeazure.fixtures import fresh, network_client

NEW_IP = "203.0.113.77"


def arm(
    fake: FakeAzure,
    method: str,
    path: str,
    *,
    token: str | None = "auto",
    version: str | None = SPEC_API_VERSION,
    **kwargs,
) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token == "auto":
        token = fake.token()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    params = {"api-version": version} if version else {}
    return requests.request(
        method,
        fake.url + path,
        params=params,
        headers=headers,
        verify=fake.ca_path,
        timeout=10,
        **kwargs,
    )


def lng_body(fake: FakeAzure, ip: str = NEW_IP) -> dict:
    cur = fake.lng()
    return {
        "location": cur["location"],
        "properties": {
            "gatewayIpAddress": ip,
            "localNetworkAddressSpace": cur["properties"]["localNetworkAddressSpace"],
        },
    }


def test_every_answer_has_request_ids(fake_azure: FakeAzure) -> None:
    fake_azure.faults.add("GET", "/connections/", status=503)
    answers = [
        requests.get(
            f"{fake_azure.url}/{fake_azure.tenant_id}/v2.0/.well-known/openid-configuration",
            verify=fake_azure.ca_path,
            timeout=10,
        ),
        arm(fake_azure, "GET", fake_azure.lng_id),
        arm(fake_azure, "GET", fake_azure.lng_id, token=None),
        arm(
            fake_azure,
            "GET",
            fake_azure.connection_id,
            headers={"x-ms-correlation-request-id": "corr-1"},
        ),
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 503]
    for a in answers:
        assert a.headers["x-ms-request-id"] and a.headers["x-ms-correlation-request-id"]
    assert answers[3].headers["x-ms-correlation-request-id"] == "corr-1"
    assert answers[3].json()["error"]["code"] == "ServiceUnavailable"


def test_api_versions(fake_azure: FakeAzure) -> None:
    assert arm(fake_azure, "GET", fake_azure.lng_id, version=SPEC_API_VERSION).status_code == 200
    bad = arm(fake_azure, "GET", fake_azure.lng_id, version="2019-02-01")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "InvalidApiVersionParameter"
    assert "'2019-02-01' is invalid" in bad.json()["error"]["message"]
    missing = arm(fake_azure, "GET", fake_azure.lng_id, version=None)
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
    assert any("api-version" in v for v in fake_azure.violations)  # the request broke the spec
    fake_azure.violations.clear()


def test_bearer_checks(fake_azure: FakeAzure) -> None:
    none = arm(fake_azure, "GET", fake_azure.lng_id, token=None)
    assert none.status_code == 401 and none.json()["error"]["code"] == "AuthenticationFailed"
    assert none.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    forged = arm(fake_azure, "GET", fake_azure.lng_id, token="eyJhbGciOiJub25lIn0.e30.")
    assert forged.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]


def test_create_and_if_none_match(fake_azure: FakeAzure) -> None:
    path = fake_azure.lng_id.replace(fake_azure.names.lng_name, "lng-second")
    created = arm(
        fake_azure, "PUT", path, json=lng_body(fake_azure), headers={"If-None-Match": "*"}
    )
    assert created.status_code == 201
    assert created.json()["properties"]["provisioningState"] == "Updating"
    assert "/operations/" in created.headers["Azure-AsyncOperation"]
    assert created.headers["Retry-After"] == "1"
    again = arm(
        fake_azure,
        "PUT",
        fake_azure.lng_id,
        json=lng_body(fake_azure),
        headers={"If-None-Match": "*"},
    )
    assert again.status_code == 412 and again.json()["error"]["code"] == "PreconditionFailed"
    status = requests.get(
        created.headers["Azure-AsyncOperation"],
        verify=fake_azure.ca_path,
        headers={"Authorization": f"Bearer {fake_azure.token()}"},
        timeout=10,
    )
    assert status.json() == {"status": "Succeeded"}
    assert fake_azure.resource(path)["properties"]["provisioningState"] == "Succeeded"


def test_put_replaces_and_validates(fake_azure: FakeAzure) -> None:
    body = lng_body(fake_azure)
    body["properties"]["gatewayIpAddress"] = 42
    bad = arm(fake_azure, "PUT", fake_azure.lng_id, json=body)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidRequestFormat"
    assert any("gatewayIpAddress: expected string" in v for v in fake_azure.violations)
    fake_azure.violations.clear()
    not_ip = arm(fake_azure, "PUT", fake_azure.lng_id, json=lng_body(fake_azure, "vpn.example"))
    assert (
        not_ip.status_code == 400
        and not_ip.json()["error"]["target"] == "properties.gatewayIpAddress"
    )
    moved = lng_body(fake_azure)
    moved["location"] = "East US"
    assert (
        arm(fake_azure, "PUT", fake_azure.lng_id, json=moved).json()["error"]["code"]
        == "InvalidResourceLocation"
    )
    no_loc = lng_body(fake_azure)
    del no_loc["location"]
    assert (
        arm(fake_azure, "PUT", fake_azure.lng_id, json=no_loc).json()["error"]["code"]
        == "LocationRequired"
    )
    assert fake_azure.lng()["properties"]["gatewayIpAddress"] == fake_azure.names.gateway_ip
    # PUT is a replace: what the client leaves out is gone (readOnly fields are Azure's)
    ok = arm(
        fake_azure,
        "PUT",
        fake_azure.lng_id,
        json={
            "location": "West Europe",
            "properties": {"gatewayIpAddress": NEW_IP, "provisioningState": "Failed"},
        },
    )
    assert ok.status_code == 200
    props = fake_azure.lng()["properties"]
    assert "localNetworkAddressSpace" not in props and props["provisioningState"] == "Updating"


def test_routes_outside_the_fake(fake_azure: FakeAzure) -> None:
    delete = arm(fake_azure, "DELETE", fake_azure.lng_id)  # in the spec, not served
    assert delete.status_code == 405 and fake_azure.violations == []
    post = arm(fake_azure, "POST", fake_azure.lng_id)  # not in the spec at all
    assert post.status_code == 405
    assert any("verb not in spec" in v for v in fake_azure.violations)
    fake_azure.violations.clear()
    other_sub = arm(
        fake_azure,
        "GET",
        fake_azure.lng_id.replace(
            fake_azure.names.subscription_id, "00000000-0000-4000-8000-000000000000"
        ),
    )
    assert other_sub.json()["error"]["code"] == "SubscriptionNotFound"


def test_response_violations_are_caught(fake_azure: FakeAzure) -> None:
    fake_azure.set_connection(connectionStatus="Up", ingressBytesTransferred="lots")
    assert arm(fake_azure, "GET", fake_azure.connection_id).status_code == 200
    assert any("'Up' not one of" in v for v in fake_azure.violations)
    assert any("ingressBytesTransferred: expected integer" in v for v in fake_azure.violations)
    fake_azure.violations.clear()


def test_faults_count_and_reset(fake_azure: FakeAzure) -> None:
    fault = fake_azure.faults.add(
        "*",
        r"localnetworkgateways",
        status=500,
        times=2,
        code="InternalServerError",
        message="try later",
    )
    statuses = [arm(fake_azure, "GET", fake_azure.lng_id).status_code for _ in range(3)]
    assert statuses == [500, 500, 200] and fault.hits == 2
    forever = fake_azure.faults.add("GET", r"/connections/", status=429, times=None, retry_after=7)
    for _ in range(3):
        r = arm(fake_azure, "GET", fake_azure.connection_id)
        assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    assert forever.hits == 3
    fake_azure.faults.reset()
    assert arm(fake_azure, "GET", fake_azure.connection_id).status_code == 200


def test_fixture_resets_state_between_tests(fake_azure_server: FakeAzure) -> None:
    """The fixture's own body, twice: whatever one test leaves, the next starts clean; a
    violation left behind fails the test that caused it."""
    first = fresh(fake_azure_server)
    fake = next(first)
    fake.faults.add("GET", ".", status=500, times=None)
    fake.set_connection(connectionStatus="NotConnected")
    fake.retry_after = 9
    assert arm(fake, "GET", fake.lng_id).status_code == 500 and fake.requests
    with pytest.raises(StopIteration):
        next(first)
    second = fresh(fake_azure_server)
    fake = next(second)
    assert fake.faults.items == [] and fake.requests == [] and fake.violations == []
    assert fake.connection()["properties"]["connectionStatus"] == "Connected"
    assert fake.retry_after == 1
    assert arm(fake, "POST", fake.lng_id).status_code == 405  # a verb outside the contract
    with pytest.raises(pytest.fail.Exception, match="verb not in spec"):
        next(second)
    assert fake_azure_server.violations == []


def _token_form(fake: FakeAzure, assertion: str) -> dict:
    return {
        "grant_type": "client_credentials",
        "client_id": fake.client_id,
        "scope": "https://management.azure.com/.default",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }


def _assertion(fake: FakeAzure, key_pem: bytes | None = None, **claims) -> str:
    pem = Path(fake.client_cert_path).read_bytes()
    cert = x509.load_pem_x509_certificate(pem[pem.index(b"-----BEGIN CERTIFICATE") :])
    key = load_pem_private_key(key_pem or pem, password=None)
    x5t = base64.urlsafe_b64encode(hashlib.sha256(cert.public_bytes(Encoding.DER)).digest())
    now = int(time.time())
    body = {
        "aud": f"{fake.url}/{fake.tenant_id}/oauth2/v2.0/token",
        "iss": fake.client_id,
        "sub": fake.client_id,
        "exp": now + 600,
        "nbf": now,
        "jti": "j1",
        **claims,
    }
    return jwt.encode(body, key, algorithm="PS256", headers={"x5t#S256": x5t.rstrip(b"=").decode()})


@pytest.mark.parametrize(
    ("case", "aadsts"),
    [
        ("ok", None),
        ("other_key", "AADSTS700027"),
        ("expired", "AADSTS700024"),
        ("audience", "AADSTS700212"),
        ("issuer", "AADSTS700021"),
    ],
)
def test_client_assertion_checks(fake_azure: FakeAzure, case: str, aadsts: str | None) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    kwargs: dict = {}
    if case == "other_key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kwargs["key_pem"] = other.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    elif case == "expired":
        kwargs.update(exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200)
    elif case == "audience":
        kwargs["aud"] = "https://login.microsoftonline.com/x/oauth2/v2.0/token"
    elif case == "issuer":
        kwargs["iss"] = "someone-else"
    r = requests.post(
        f"{fake_azure.url}/{fake_azure.tenant_id}/oauth2/v2.0/token",
        data=_token_form(fake_azure, _assertion(fake_azure, **kwargs)),
        verify=fake_azure.ca_path,
        timeout=10,
    )
    if aadsts is None:
        assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
        assert (
            arm(fake_azure, "GET", fake_azure.lng_id, token=r.json()["access_token"]).status_code
            == 200
        )
    else:
        assert r.status_code == 401
        assert r.json()["error"] == "invalid_client"
        assert r.json()["error_description"].startswith(aadsts)
        assert r.json()["error_codes"] == [int(aadsts[6:])]


def test_v1_token_endpoint(fake_azure: FakeAzure) -> None:
    r = requests.post(
        f"{fake_azure.url}/{fake_azure.tenant_id}/oauth2/token",
        verify=fake_azure.ca_path,
        timeout=10,
        data={
            "grant_type": "client_credentials",
            "client_id": fake_azure.client_id,
            "client_secret": fake_azure.client_secret,
            "resource": "https://management.azure.com/",
        },
    )
    assert r.status_code == 200
    assert (
        arm(fake_azure, "GET", fake_azure.lng_id, token=r.json()["access_token"]).status_code == 200
    )
    assert fake_azure.client_secret not in str(fake_azure.requests)


# ---- the Azure VPN gateway hook ------------------------------------------------------------
def _update_ip(fake: FakeAzure, ip: str = NEW_IP):
    client = network_client(fake)
    rg, name = fake.names.resource_group, fake.names.lng_name
    lng = client.local_network_gateways.get(rg, name)
    lng.gateway_ip_address = ip
    return client.local_network_gateways.begin_create_or_update(rg, name, lng).result()


def test_hook_called_before_lro_succeeds(fake_azure: FakeAzure) -> None:
    seen: list = []
    release = threading.Event()

    def hook(old: dict, new: dict) -> None:
        seen.append((old["properties"]["gatewayIpAddress"], new["properties"]["gatewayIpAddress"]))
        assert release.wait(10)

    fake_azure.on_lng_change = hook
    fake_azure.retry_after = 0
    client = network_client(fake_azure, polling_interval=0.01)
    rg, name = fake_azure.names.resource_group, fake_azure.names.lng_name
    lng = client.local_network_gateways.get(rg, name)
    lng.gateway_ip_address = NEW_IP
    poller = client.local_network_gateways.begin_create_or_update(rg, name, lng)
    poller.wait(0.3)
    assert not poller.done()  # LRO waits for the hook
    assert fake_azure.connection()["properties"]["connectionStatus"] == "Connecting"
    release.set()
    assert poller.result().provisioning_state == "Succeeded"
    assert seen == [(fake_azure.names.gateway_ip, NEW_IP)]
    assert fake_azure.connection()["properties"]["connectionStatus"] == "Connected"


def test_hook_not_called_without_ip_change(fake_azure: FakeAzure) -> None:
    calls: list = []
    fake_azure.on_lng_change = lambda old, new: calls.append(1)
    assert _update_ip(fake_azure, fake_azure.names.gateway_ip).provisioning_state == "Succeeded"
    assert calls == []


def test_hook_exception_fails_the_lro(fake_azure: FakeAzure) -> None:
    from azure.core.exceptions import HttpResponseError

    def hook(old: dict, new: dict) -> None:
        raise RuntimeError("swanctl --load-conns failed")

    fake_azure.on_lng_change = hook
    with pytest.raises(HttpResponseError, match="swanctl --load-conns failed"):
        _update_ip(fake_azure)
    assert fake_azure.connection()["properties"]["connectionStatus"] == "NotConnected"
    assert fake_azure.lng()["properties"]["provisioningState"] == "Failed"


def test_hook_result_sets_connection_status(fake_azure: FakeAzure) -> None:
    fake_azure.on_lng_change = lambda old, new: "NotConnected"  # e.g. tunnel did not come up
    assert _update_ip(fake_azure).gateway_ip_address == NEW_IP
    assert fake_azure.connection()["properties"]["connectionStatus"] == "NotConnected"


# ---- running it as a process (the lab) and the fixture's teardown ------------------------
def test_process_mode_with_change_command(tmp_path) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys

    out, info = tmp_path / "changed.txt", tmp_path / "azure.json"
    cmd = f"sh -c 'echo \"$S2S_OLD_IP $S2S_NEW_IP\" > {out}'"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeazure", "--info", str(info), "--on-change-cmd", cmd],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        first = json.loads(proc.stdout.readline())
        details = json.loads(info.read_text())
        assert oct(info.stat().st_mode & 0o777) == "0o600"
        token = requests.post(
            f"{details['url']}/{details['tenant_id']}/oauth2/v2.0/token",
            verify=first["ca_path"],
            timeout=10,
            data={
                "grant_type": "client_credentials",
                "client_id": details["client_id"],
                "client_secret": details["client_secret"],
                "scope": "https://management.azure.com/.default",
            },
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        url = f"{details['url']}{details['lng_id']}?api-version={SPEC_API_VERSION}"
        lng = requests.get(url, headers=auth, verify=first["ca_path"], timeout=10).json()
        old_ip = lng["properties"]["gatewayIpAddress"]
        put = requests.put(
            url,
            headers=auth,
            verify=first["ca_path"],
            timeout=10,
            json={"location": lng["location"], "properties": {"gatewayIpAddress": NEW_IP}},
        )
        op_url = put.headers["Azure-AsyncOperation"]
        for _ in range(100):
            status = requests.get(op_url, headers=auth, verify=first["ca_path"], timeout=10).json()
            if status["status"] != "InProgress":
                break
            time.sleep(0.05)
        assert status == {"status": "Succeeded"}
        assert out.read_text().split() == [old_ip, NEW_IP]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert not os.path.exists(first["ca_path"])  # temp files cleaned up


def test_fixture_fails_a_test_with_violations(tmp_path) -> None:
    import subprocess
    import sys

    (tmp_path / "test_inner.py").write_text(
        "import requests\n"
        "from tests.fakeazure.fixtures import fake_azure, fake_azure_server  # noqa: F401\n"
        "def test_bad_verb(fake_azure):\n"
        "    r = requests.post(fake_azure.url + fake_azure.lng_id, verify=fake_azure.ca_path,\n"
        "                      params={'api-version': '2024-05-01'},\n"
        "                      headers={'Authorization': 'Bearer ' + fake_azure.token()})\n"
        "    assert r.status_code == 405\n"
    )
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_inner.py"),
        ],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(root)},
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "1 passed, 1 error" in res.stdout
    assert "fake Azure saw spec violations" in res.stdout and "verb not in spec" in res.stdout


def test_body_that_is_not_json(fake_azure: FakeAzure) -> None:
    r = arm(
        fake_azure,
        "PUT",
        fake_azure.lng_id,
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestFormat"
    assert any("Body is not JSON" in v for v in fake_azure.violations)
    fake_azure.violations.clear()
