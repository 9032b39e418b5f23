"""AzureWorker.call (the daemon side) and worker_main (the worker process), without the lab:
a fake runner for the protocol edge cases, the in-process fake Azure for the real worker."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from s2s_agent.act.azureworker import AzureCallError, AzureWorker, worker_main
from s2s_agent.core import osio
from s2s_agent.core.errors import CommandError
from tests.fakeazure import FakeAzure

NEW_IP = "203.0.113.77"


class Runner:
    def __init__(self, stdout="", stderr="", rc=0, exc=None):
        self.stdout, self.stderr, self.rc, self.exc = stdout, stderr, rc, exc
        self.calls = []

    def __call__(self, argv, **kw):
        self.calls.append((list(argv), kw))
        if self.exc:
            raise self.exc
        return osio.Result(tuple(argv), self.rc, self.stdout, self.stderr)


def test_call_builds_the_command_and_returns_the_result():
    r = Runner(stdout='noise\n{"version": 1, "ok": true, "result": {"ip": "192.0.2.1"}}\n')
    w = AzureWorker("/etc/s2s.yaml", runner=r, python="/usr/bin/python3")
    assert w.call("update-lng", NEW_IP, deadline=12) == {"ip": "192.0.2.1"}
    argv, kw = r.calls[0]
    assert argv[:2] == ["/usr/bin/python3", "-c"]
    assert argv[3] == str(Path(__file__).resolve().parents[2] / "agent")  # where s2s_agent lives
    assert argv[4:] == ["-c", "/etc/s2s.yaml", "--deadline", "12", "update-lng", NEW_IP]
    assert kw["timeout"] == 42 and tuple(kw["ok_codes"]) == (
        0,
        1,
        2,
    )  # the kill comes after the deadline


def test_call_maps_every_failure_to_azure_call_error():
    with pytest.raises(ValueError, match="unknown Azure operation"):
        AzureWorker("c", runner=Runner()).call("delete-everything")
    timeout = CommandError(["py"], "timed out after 50s", timed_out=True)
    with pytest.raises(AzureCallError) as e:
        AzureWorker("c", runner=Runner(exc=timeout)).call("get-lng", deadline=20)
    assert e.value.kind == "AzureTimeoutError" and "get-lng" in str(e.value)
    crashed = CommandError(["py"], "exited with status 139: Segmentation fault", returncode=139)
    with pytest.raises(AzureCallError) as e:
        AzureWorker("c", runner=Runner(exc=crashed)).call("get-lng")
    assert e.value.kind == "WorkerError" and "139" in str(e.value)
    with pytest.raises(AzureCallError) as e:
        AzureWorker(
            "c", runner=Runner(stdout="", stderr="Traceback\nImportError: no azure\n", rc=1)
        ).call("get-lng")
    assert e.value.kind == "WorkerError" and "gave no answer: ImportError: no azure" in str(e.value)
    err = {
        "type": "AzureForbiddenError",
        "message": "lacks the action",
        "status": 403,
        "code": "AuthorizationFailed",
    }
    with pytest.raises(AzureCallError) as e:
        AzureWorker(
            "c", runner=Runner(stdout=json.dumps({"version": 1, "ok": False, "error": err}), rc=1)
        ).call("get-lng")
    assert (e.value.kind, e.value.status, e.value.code, str(e.value)) == (
        "AzureForbiddenError",
        403,
        "AuthorizationFailed",
        "lacks the action",
    )


@pytest.fixture
def fake(fake_azure: FakeAzure) -> FakeAzure:
    fake_azure.retry_after = 0
    return fake_azure


def config_for(
    fake: FakeAzure, tmp_path: Path, secret: str | None = None, azure: bool = True
) -> str:
    path = tmp_path / "secret"
    path.write_text((secret or fake.client_secret) + "\n")
    path.chmod(0o600)
    text = "tunnels: [{name: hq, ike: con1}]\n"
    if azure:
        text += textwrap.dedent(f"""
            azure:
              tenant_id: {fake.tenant_id}
              client_id: {fake.client_id}
              client_secret_file: {path}
              subscription_id: {fake.names.subscription_id}
              resource_group: {fake.names.resource_group}
              local_network_gateway: {fake.names.lng_name}
              connection: {fake.names.connection_name}
              authority: {fake.url}
              arm_endpoint: {fake.url}
              ca_bundle: {fake.ca_path}
        """)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    return str(cfg)


def emitted(capsys) -> dict:
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    assert len(lines) == 1
    return json.loads(lines[0])


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the worker wants a root-owned credential file"
)


@needs_root
def test_worker_main_reads_updates_and_reports(fake, tmp_path, capsys):
    cfg = config_for(fake, tmp_path)
    assert worker_main(["-c", cfg, "--deadline", "30", "get-lng"]) == 0
    out = emitted(capsys)
    assert out["version"] == 1 and out["ok"] and out["result"]["ip"] == fake.names.gateway_ip
    assert worker_main(["-c", cfg, "update-lng", NEW_IP]) == 0
    res = emitted(capsys)["result"]
    assert (
        res["changed"] is True
        and res["old_ip"] == fake.names.gateway_ip
        and res["new_ip"] == NEW_IP
    )
    assert worker_main(["-c", cfg, "get-connection"]) == 0
    assert emitted(capsys)["result"]["name"] == fake.names.connection_name
    assert worker_main(["-c", cfg, "reset-connection"]) == 0
    assert emitted(capsys)["result"] == {"reset": True}


@needs_root
def test_worker_main_errors_are_typed_and_secret_free(fake, tmp_path, capsys):
    bad = "wrong~secret-0123456789"
    cfg = config_for(fake, tmp_path, secret=bad)
    assert worker_main(["-c", cfg, "get-lng"]) == 1
    out = capsys.readouterr().out
    err = json.loads(out.strip().splitlines()[-1])["error"]
    assert err["type"] == "AzureAuthError" and err["code"].startswith("AADSTS") and bad not in out
    assert worker_main(["-c", config_for(fake, tmp_path), "update-lng"]) == 2
    assert emitted(capsys)["error"]["type"] == "ConfigError"
    assert worker_main(["-c", config_for(fake, tmp_path, azure=False), "get-lng"]) == 2
    assert "azure: is not configured" in emitted(capsys)["error"]["message"]


@needs_root
def test_the_real_worker_process_end_to_end(fake, tmp_path):
    """AzureWorker.call -> a real `python -c` worker process -> the fake Azure over HTTPS."""
    w = AzureWorker(config_for(fake, tmp_path), python=sys.executable)
    assert w.call("get-lng", deadline=60)["ip"] == fake.names.gateway_ip
    assert w.call("update-lng", NEW_IP, deadline=60)["changed"] is True
    assert w.call("update-lng", NEW_IP, deadline=60)["changed"] is False  # read before write
    with pytest.raises(AzureCallError) as e:
        AzureWorker(
            config_for(fake, tmp_path, secret="nope-nope-nope"), python=sys.executable
        ).call("get-lng", deadline=60)
    assert e.value.kind == "AzureAuthError" and "nope-nope-nope" not in str(e.value)


@needs_root
def test_worker_says_when_no_write_was_sent(fake, tmp_path, capsys):
    """ARM unreachable at update-lng's first read: the error says ``wrote: false``, so the
    write gate gives the hourly slot back (an Azure outage must not use up the limit)."""
    fake.faults.add("GET", r"/localNetworkGateways/", status=503, times=None, retry_after=0)
    assert (
        worker_main(["-c", config_for(fake, tmp_path), "--deadline", "1", "update-lng", NEW_IP])
        == 1
    )
    err = emitted(capsys)["error"]
    assert err["type"] == "AzureTimeoutError" and err["wrote"] is False
    assert fake.arm_requests("PUT") == []
    r = Runner(stdout=json.dumps({"version": 1, "ok": False, "error": err}), rc=1)
    with pytest.raises(AzureCallError) as e:
        AzureWorker("c", runner=r).call("update-lng", NEW_IP)
    assert e.value.wrote is False


@needs_root
def test_worker_uses_the_named_tunnels_target_and_profile(fake, tmp_path, capsys):
    """Several Azure tunnels: ``--tunnel`` picks that tunnel's LNG in its subscription,
    with its profile's principal (authorised only there)."""
    from tests.fakeazure.seed import Names
    from tests.fakeazure.tenancy import SITE_B

    site = fake.add_site(Names(**SITE_B))
    secrets = {}
    for name, value in (("a", fake.client_secret), ("b", site.principal.client_secret)):
        secrets[name] = tmp_path / f"azure-{name}.secret"
        secrets[name].write_text(value + "\n")
        secrets[name].chmod(0o600)
    common = f"authority: {fake.url}, arm_endpoint: {fake.url}, ca_bundle: {fake.ca_path}"
    n, b = fake.names, site.names
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        textwrap.dedent(f"""
        azure_profiles:
          a: {{tenant_id: {fake.tenant_id}, client_id: {fake.client_id},
              client_secret_file: {secrets["a"]}, {common}}}
          b: {{tenant_id: {fake.tenant_id}, client_id: {site.principal.client_id},
              client_secret_file: {secrets["b"]}, {common}}}
        tunnels:
          - {{ike: con1, wan: {{source: interface, interface: wan0}},
              azure: {{profile: a, subscription_id: {n.subscription_id},
                      resource_group: {n.resource_group}, local_network_gateway: {n.lng_name}}}}}
          - {{ike: con2, wan: {{source: interface, interface: wan0}},
              azure: {{profile: b, subscription_id: {b.subscription_id},
                      resource_group: {b.resource_group}, local_network_gateway: {b.lng_name}}}}}
        """)
    )
    assert worker_main(["-c", str(cfg), "--tunnel", "con2", "update-lng", NEW_IP]) == 0
    assert emitted(capsys)["result"]["new_ip"] == NEW_IP
    assert fake.lng_writes(b.lng_name) == 1 and fake.lng_writes(n.lng_name) == 0
    assert worker_main(["-c", str(cfg), "--tunnel", "con1", "get-lng"]) == 0
    assert emitted(capsys)["result"]["ip"] == n.gateway_ip
    assert worker_main(["-c", str(cfg), "--tunnel", "nope", "get-lng"]) == 2
    assert "nope" in emitted(capsys)["error"]["message"]


def test_the_worker_refuses_a_target_that_changed_under_a_running_remediation(tmp_path, capsys):
    """The worker re-reads the config file; after a reload changed the tunnel's subscription
    it must not write the new LNG for a plan made for the old one (``--lng``)."""
    r = Runner(stdout='{"version": 1, "ok": true, "result": {}}\n')
    AzureWorker("c.yaml", runner=r, tunnel="con2", lng="public/s/rg/lng-b").call("get-lng")
    assert r.calls[0][0][-5:] == ["--tunnel", "con2", "--lng", "public/s/rg/lng-b", "get-lng"]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        textwrap.dedent("""
        azure_profiles:
          b: {tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47,
              client_id: 11111111-2222-3333-4444-555555555555, client_secret_file: /s/b.secret}
        tunnels:
          - {name: con2, ike: con2, wan: {source: interface, interface: igb0},
             azure: {profile: b, resource_group: RG, local_network_gateway: lng-b,
                     subscription_id: 00000000-1111-2222-3333-666666666666}}
        """)
    )
    planned = "public/00000000-1111-2222-3333-555555555555/rg/lng-b"
    argv = ["-c", str(cfg), "--tunnel", "con2", "--lng", planned, "update-lng", NEW_IP]
    assert worker_main(argv) == 2
    err = emitted(capsys)["error"]
    assert err["type"] == "ConfigError" and "changed while it ran" in err["message"]
    assert "tunnels.con2.azure" in err["message"]
