"""One Azure LNG update from the installed tree against the fake Azure (tests/fakeazure).

The update runs in a child ``python -I`` that sees the standard library and the vendored
folder of the extracted package only (tests/pkg/isolated.py): client-secret authentication
works there, on msal, without ``cryptography`` (``s2s_agent.act.credential``). Where FreeBSD's
py311-cryptography is installed (``freebsd_python_crypto``), azure-identity is used and
certificate authentication works; without it ``validate-config`` says what to install.
The ``fake_azure`` fixture fails the test if a request or response broke the Azure REST spec.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .isolated import LIB, run_launcher, run_python

NEW_IP = "203.0.113.77"

SDK_UPDATE = """
import json
from azure.identity import ClientSecretCredential
from azure.mgmt.network import NetworkManagementClient
a = json.loads(ARGS)
for m in ("azure.identity", "azure.mgmt.network", "azure.core", "msal"):
    assert sys.modules[m].__file__.startswith(sys.path[0]), sys.modules[m].__file__
cred = ClientSecretCredential(a["tenant"], a["client"], a["secret"], authority=a["url"],
                              disable_instance_discovery=True, connection_verify=a["ca"])
net = NetworkManagementClient(cred, a["sub"], base_url=a["url"], connection_verify=a["ca"],
                              polling_interval=1)
ops = net.local_network_gateways
lng = ops.get(a["rg"], a["lng"])
old = lng.gateway_ip_address
lng.gateway_ip_address = a["ip"]
done = ops.begin_create_or_update(a["rg"], a["lng"], lng, headers={"If-Match": lng.etag}).result()
print(json.dumps({"old": old, "new": done.gateway_ip_address,
                  "state": done.provisioning_state}))
"""

CLIENT_UPDATE = """
import json, os
from s2s_agent.act.azure import AzureClient, parse_azure
a = json.loads(ARGS)
settings = parse_azure(a["section"], "/usr/local/etc/s2s-agent.yaml")
client = AzureClient(settings, owner_uid=os.getuid(), polling_interval=1)
result = client.update_lng_ip(a["ip"])
for m in ("azure.mgmt.network", "azure.core", "msal", "requests", "s2s_agent.act.azure"):
    assert sys.modules[m].__file__.startswith(sys.path[0]), sys.modules[m].__file__
print(json.dumps({"changed": result.changed, "old": result.old_ip, "new": result.new_ip,
                  "attempts": result.attempts,
                  "credential": type(client._client._config.credential).__name__,
                  "cryptography": "cryptography" in sys.modules,
                  "azure.identity": "azure.identity" in sys.modules}))
"""


def _run(installed_root: Path, python: Path, script: str, args: dict) -> dict:
    r = run_python(installed_root, python, script.replace("ARGS", repr(json.dumps(args))))
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_sdk_lng_update_from_the_vendored_tree(installed_root, freebsd_python_crypto, fake_azure):
    """azure-identity as shipped (pruned) works where py311-cryptography is installed."""
    fake, n = fake_azure, fake_azure.names
    old_ip = fake.lng()["properties"]["gatewayIpAddress"]
    out = _run(
        installed_root,
        freebsd_python_crypto,
        SDK_UPDATE,
        {
            "tenant": fake.tenant_id,
            "client": fake.client_id,
            "secret": fake.client_secret,
            "url": fake.url,
            "ca": fake.ca_path,
            "sub": n.subscription_id,
            "rg": n.resource_group,
            "lng": n.lng_name,
            "ip": NEW_IP,
        },
    )
    assert out == {"old": old_ip, "new": NEW_IP, "state": "Succeeded"}
    assert fake.lng()["properties"]["gatewayIpAddress"] == NEW_IP
    assert [r["method"] for r in fake.arm_requests("PUT")] == ["PUT"]


def section_for(fake, cred: Path, auth: str) -> dict:
    n = fake.names
    return {
        "tenant_id": fake.tenant_id,
        "client_id": fake.client_id,
        "client_secret_file": str(cred) if auth == "secret" else None,
        "client_certificate_file": str(cred) if auth == "certificate" else None,
        "subscription_id": n.subscription_id,
        "resource_group": n.resource_group,
        "local_network_gateway": n.lng_name,
        "connection": n.connection_name,
        "cloud": "AzureCloud",
        "authority": fake.url,
        "arm_endpoint": fake.url,
        "ca_bundle": fake.ca_path,
    }


def credential_file(fake, tmp_path: Path, auth: str) -> Path:
    cred = tmp_path / ("azure-secret" if auth == "secret" else "azure-cert.pem")
    if auth == "secret":
        cred.write_text(fake.client_secret + "\n")
    else:
        shutil.copyfile(fake.client_cert_path, cred)
    os.chmod(cred, 0o600)
    return cred


CASES = {
    # (auth, interpreter fixture) -> credential class the agent must have used
    ("secret", "freebsd_python"): "MsalSecretCredential",
    ("secret", "freebsd_python_crypto"): "ClientSecretCredential",
    ("certificate", "freebsd_python_crypto"): "CertificateCredential",
}


@pytest.mark.parametrize(
    ("auth", "python"), sorted(CASES), ids=["-".join(c) for c in sorted(CASES)]
)
def test_agent_azure_client_updates_the_lng_from_the_installed_tree(
    installed_root, fake_azure, tmp_path, request, auth, python
):
    """The agent's own AzureClient (what remediation calls), configured the way the
    package's YAML configures it, from the installed tree; with the standard library only
    (no cryptography), client-secret auth runs on msal."""
    assert (installed_root / LIB.lstrip("/") / "s2s_agent" / "act" / "azure.py").is_file(), (
        "the archive has no s2s_agent/act/azure.py"
    )
    interpreter = request.getfixturevalue(python)
    fake = fake_azure
    section = section_for(fake, credential_file(fake, tmp_path, auth), auth)
    old_ip = fake.lng()["properties"]["gatewayIpAddress"]
    out = _run(installed_root, interpreter, CLIENT_UPDATE, {"section": section, "ip": NEW_IP})
    with_crypto = python == "freebsd_python_crypto"
    assert out == {
        "changed": True,
        "old": old_ip,
        "new": NEW_IP,
        "attempts": 1,
        "credential": CASES[auth, python],
        "cryptography": with_crypto,
        "azure.identity": with_crypto,
    }
    assert fake.lng()["properties"]["gatewayIpAddress"] == NEW_IP


def test_certificate_without_cryptography_is_refused_by_validate_config(
    installed_root, launcher, fake_azure, tmp_path
):
    """The launcher's interpreter has no cryptography: validate-config names the key, says
    certificate auth needs it and what to install (exit 2, as for any invalid config)."""
    sample = (installed_root / "usr/local/etc/s2s-agent.yaml.sample").read_text()
    section = section_for(
        fake_azure, credential_file(fake_azure, tmp_path, "certificate"), "certificate"
    )
    conf = tmp_path / "s2s-agent.yaml"
    conf.write_text(sample + "\nazure: " + json.dumps(section) + "\n")
    r = run_launcher(launcher, "validate-config", "-c", str(conf))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "azure.client_certificate_file" in r.stderr
    assert "cryptography" in r.stderr and "pkg install py311-cryptography" in r.stderr
    secret_conf = tmp_path / "secret.yaml"
    section = section_for(fake_azure, credential_file(fake_azure, tmp_path, "secret"), "secret")
    secret_conf.write_text(sample + "\nazure: " + json.dumps(section) + "\n")
    r = run_launcher(launcher, "validate-config", "-c", str(secret_conf))
    assert r.returncode == 0, r.stdout + r.stderr
