"""One Azure LNG update from the installed tree against the fake Azure (tests/fakeazure).

The update runs in a child ``python -I`` that sees only the vendored folder of the extracted
package and the declared compiled deps (tests/pkg/isolated.py): it proves that the pruned
azure-identity / msal / azure-core / azure-mgmt-network (and, for the certificate case, the
system's cryptography) are complete for what the agent does. The ``fake_azure`` fixture fails
the test if a request or response broke the Azure REST spec.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .isolated import LIB, run_python

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
from s2s_agent.azure import AzureClient, parse_azure
a = json.loads(ARGS)
settings = parse_azure(a["section"], "/usr/local/etc/s2s-agent.yaml")
result = AzureClient(settings, owner_uid=os.getuid(), polling_interval=1).update_lng_ip(a["ip"])
print(json.dumps({"changed": result.changed, "old": result.old_ip, "new": result.new_ip,
                  "attempts": result.attempts}))
for m in ("azure.identity", "azure.mgmt.network", "s2s_agent.azure"):
    assert sys.modules[m].__file__.startswith(sys.path[0]), sys.modules[m].__file__
"""


def _run(installed_root: Path, python: Path, script: str, args: dict) -> dict:
    r = run_python(installed_root, python, script.replace("ARGS", repr(json.dumps(args))))
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_sdk_lng_update_from_the_vendored_tree(installed_root, freebsd_python, fake_azure):
    fake, n = fake_azure, fake_azure.names
    old_ip = fake.lng()["properties"]["gatewayIpAddress"]
    out = _run(installed_root, freebsd_python, SDK_UPDATE, {
        "tenant": fake.tenant_id, "client": fake.client_id, "secret": fake.client_secret,
        "url": fake.url, "ca": fake.ca_path, "sub": n.subscription_id, "rg": n.resource_group,
        "lng": n.lng_name, "ip": NEW_IP,
    })  # fmt: skip
    assert out == {"old": old_ip, "new": NEW_IP, "state": "Succeeded"}
    assert fake.lng()["properties"]["gatewayIpAddress"] == NEW_IP
    assert [r["method"] for r in fake.arm_requests("PUT")] == ["PUT"]


def _azure_client_shipped(installed_root: Path) -> bool:
    return (installed_root / LIB.lstrip("/") / "s2s_agent" / "azure.py").is_file()


@pytest.mark.parametrize("auth", ["secret", "certificate"])
def test_agent_azure_client_updates_the_lng_from_the_installed_tree(
    installed_root, freebsd_python, fake_azure, tmp_path, auth
):
    """The agent's own AzureClient (what remediation calls), configured the way the
    package's YAML configures it, from the installed tree."""
    if not _azure_client_shipped(installed_root):
        pytest.skip("the archive has no s2s_agent/azure.py (the Azure client is not built yet)")
    fake, n = fake_azure, fake_azure.names
    cred = tmp_path / ("azure-secret" if auth == "secret" else "azure-cert.pem")
    if auth == "secret":
        cred.write_text(fake.client_secret + "\n")
    else:
        shutil.copyfile(fake.client_cert_path, cred)
    os.chmod(cred, 0o600)
    section = {
        "tenant_id": fake.tenant_id, "client_id": fake.client_id,
        "client_secret_file": str(cred) if auth == "secret" else None,
        "client_certificate_file": str(cred) if auth == "certificate" else None,
        "subscription_id": n.subscription_id, "resource_group": n.resource_group,
        "local_network_gateway": n.lng_name, "connection": n.connection_name,
        "cloud": "AzureCloud", "authority": fake.url, "arm_endpoint": fake.url,
        "ca_bundle": fake.ca_path,
    }  # fmt: skip
    old_ip = fake.lng()["properties"]["gatewayIpAddress"]
    out = _run(installed_root, freebsd_python, CLIENT_UPDATE, {"section": section, "ip": NEW_IP})
    assert out == {"changed": True, "old": old_ip, "new": NEW_IP, "attempts": 1}
    assert fake.lng()["properties"]["gatewayIpAddress"] == NEW_IP
