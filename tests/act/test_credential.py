"""s2s_agent.act.credential: client-secret auth on msal alone (no cryptography) against the fake
Azure, the azure-identity choice where cryptography exists, and the certificate guard."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from s2s_agent.act import credential
from s2s_agent.act.azure import AzureAuthError, AzureClient, AzureError, parse_azure
from s2s_agent.config import azure as azure_cfg
from s2s_agent.core.errors import ConfigError
from tests.fakeazure import FakeAzure

NEW_IP = "203.0.113.78"
CFG = "/usr/local/etc/s2s-agent.yaml"
SCOPE = "https://management.azure.com/.default"


@pytest.fixture
def no_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a pfSense box without py311-cryptography looks like to the agent."""
    monkeypatch.setattr(azure_cfg, "have_cryptography", lambda: False)


def settings(fake: FakeAzure, tmp_path: Path, secret: str | None = None, **over):
    path = tmp_path / "azure-secret"
    path.write_text((secret or fake.client_secret) + "\n")
    os.chmod(path, 0o600)
    data = {
        "tenant_id": fake.tenant_id,
        "client_id": fake.client_id,
        "client_secret_file": str(path),
        "subscription_id": fake.names.subscription_id,
        "resource_group": fake.names.resource_group,
        "local_network_gateway": fake.names.lng_name,
        "authority": fake.url,
        "arm_endpoint": fake.url,
        "ca_bundle": fake.ca_path,
        **over,
    }
    return parse_azure(data, CFG)


def msal_cred(fake: FakeAzure, secret: str | None = None, **kw) -> credential.MsalSecretCredential:
    kw.setdefault("authority", fake.url)
    kw.setdefault("disable_instance_discovery", True)
    kw.setdefault("connection_verify", fake.ca_path)
    return credential.MsalSecretCredential(
        fake.tenant_id, fake.client_id, secret or fake.client_secret, **kw
    )


def entra_posts(fake: FakeAzure) -> list[dict]:
    return [r for r in fake.requests if r["method"] == "POST" and "/oauth2/" in r["path"]]


def test_msal_credential_gets_a_token_and_caches_it(fake_azure: FakeAzure) -> None:
    cred = msal_cred(fake_azure)
    first = cred.get_token(SCOPE)
    again = cred.get_token(SCOPE)
    assert first.token and first.token == again.token
    assert first.expires_on > 0
    posts = entra_posts(fake_azure)
    assert len(posts) == 1, posts
    assert posts[0]["path"] == f"/{fake_azure.tenant_id}/oauth2/v2.0/token"
    assert fake_azure.client_secret not in repr(cred)


def test_agent_updates_the_lng_without_cryptography(
    fake_azure: FakeAzure, tmp_path: Path, no_cryptography: None
) -> None:
    fake_azure.retry_after = 0
    client = AzureClient(
        settings(fake_azure, tmp_path), owner_uid=os.getuid(), polling_interval=0.01
    )
    result = client.update_lng_ip(NEW_IP)
    assert (result.changed, result.new_ip) == (True, NEW_IP)
    assert fake_azure.lng()["properties"]["gatewayIpAddress"] == NEW_IP
    assert isinstance(client._client._config.credential, credential.MsalSecretCredential)


def test_azure_identity_is_used_where_cryptography_exists(fake_azure: FakeAzure) -> None:
    from azure.identity import ClientSecretCredential

    assert azure_cfg.have_cryptography()
    cred = credential.secret_credential("t", fake_azure.client_id, "s", authority=fake_azure.url)
    assert isinstance(cred, ClientSecretCredential)


def test_unusable_cryptography_falls_back_to_msal(monkeypatch: pytest.MonkeyPatch) -> None:
    """cryptography found but azure.identity fails to import (e.g. its compiled core does
    not load): the secret still works through msal."""
    import builtins

    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name == "azure.identity":
            raise ImportError("cryptography's _rust extension does not load")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken)
    cred = credential.secret_credential("t", "c", "s", authority="https://127.0.0.1:1")
    assert isinstance(cred, credential.MsalSecretCredential)


def test_bad_secret_is_an_auth_error_with_the_aadsts_code_and_without_the_secret(
    fake_azure: FakeAzure, tmp_path: Path, no_cryptography: None, caplog
) -> None:
    bad = "wrong~Secret-9876543210"
    caplog.set_level(logging.DEBUG)
    client = AzureClient(settings(fake_azure, tmp_path, secret=bad), owner_uid=os.getuid())
    with pytest.raises(AzureAuthError) as err:
        client.get_lng()
    assert err.value.aadsts == "AADSTS7000215"
    assert bad not in str(err.value) and bad not in caplog.text
    assert fake_azure.arm_requests() == []


def test_connection_verify_wins_over_requests_ca_bundle(
    fake_azure: FakeAzure, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """requests lets REQUESTS_CA_BUNDLE override a session's verify; ours must not."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "no-such-ca.pem"))
    assert msal_cred(fake_azure).get_token(SCOPE).token


def test_untrusted_tls_is_a_fatal_transport_error(fake_azure: FakeAzure) -> None:
    from azure.core.exceptions import ServiceRequestError

    from s2s_agent.act.azure_errors import classify

    cred = msal_cred(fake_azure, connection_verify=None)  # certifi does not know the fake CA
    with pytest.raises(ServiceRequestError) as err:
        cred.get_token(SCOPE)
    assert classify(err.value) == "fatal"  # CERTIFICATE_VERIFY_FAILED: no retry loop


def test_unreachable_authority_is_transient(fake_azure: FakeAzure) -> None:
    from azure.core.exceptions import ServiceRequestError

    from s2s_agent.act.azure_errors import classify

    cred = msal_cred(fake_azure, authority="https://127.0.0.1:9", timeout=(2.0, 2.0))
    with pytest.raises(ServiceRequestError) as err:
        cred.get_token(SCOPE)
    assert classify(err.value) == "transient"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_entra_busy_is_transient(fake_azure: FakeAzure, status: int) -> None:
    from azure.core.exceptions import ServiceResponseError

    from s2s_agent.act.azure_errors import classify

    fake_azure.faults.add("POST", r"/oauth2/", status=status, times=None)
    with pytest.raises(ServiceResponseError) as err:
        msal_cred(fake_azure).get_token(SCOPE)
    assert classify(err.value) == "transient"
    assert fake_azure.client_secret not in str(err.value)


@pytest.mark.slow
def test_entra_busy_once_then_the_agent_retries_and_succeeds(
    fake_azure: FakeAzure, tmp_path: Path, no_cryptography: None
) -> None:
    """One 503 from the token endpoint: the agent's retry loop (not msal's 5 s throttle
    cache, which the backoff outlasts) gets the token and reads the LNG."""
    fake_azure.faults.add("POST", r"/oauth2/", status=503, times=1)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # really waits: msal's throttle cache is wall-clock
        sleeps.append(seconds)
        time.sleep(seconds)

    client = AzureClient(
        settings(fake_azure, tmp_path),
        owner_uid=os.getuid(),
        backoff_base=2.0,
        backoff_max=8.0,
        sleep=sleep,
    )
    lng = client.get_lng()
    assert lng.name == fake_azure.names.lng_name
    assert sleeps, "no retry happened"


def test_instance_discovery_is_on_unless_disabled(fake_azure: FakeAzure) -> None:
    """Without disable_instance_discovery msal asks Entra's public discovery endpoint about
    an unknown authority, as azure-identity does: it must reach the app's settings."""
    cred = msal_cred(fake_azure, disable_instance_discovery=False)
    assert cred._instance_discovery is True
    assert msal_cred(fake_azure)._instance_discovery is False


def test_certificate_without_cryptography_says_what_to_install(
    fake_azure: FakeAzure, tmp_path: Path, no_cryptography: None
) -> None:
    pem = tmp_path / "azure-cert.pem"
    pem.write_text("x")
    with pytest.raises(ConfigError) as err:
        settings(fake_azure, tmp_path, client_secret_file=None, client_certificate_file=str(pem))
    text = str(err.value)
    assert err.value.key == "azure.client_certificate_file"
    assert "cryptography" in text and "pkg install py311-cryptography" in text
    assert "client_secret_file" in text


def test_certificate_credential_guard_without_cryptography(no_cryptography: None) -> None:
    with pytest.raises(ConfigError, match="py311-cryptography"):
        credential.certificate_credential(
            "t", "c", b"", key="azure.client_certificate_file", path="/x.pem"
        )


def test_validate_config_reports_missing_cryptography(
    tmp_path: Path, fake_azure: FakeAzure, no_cryptography: None
) -> None:
    """Through config.load (what `s2s-agent validate-config` runs)."""
    from s2s_agent import config as config_mod

    sample = Path(__file__).resolve().parents[2] / "etc" / "s2s-agent.yaml.sample"
    import yaml

    data = yaml.safe_load(sample.read_text())
    pem = tmp_path / "c.pem"
    pem.write_text("x")
    data["azure"] = {
        "tenant_id": fake_azure.tenant_id,
        "client_id": fake_azure.client_id,
        "client_certificate_file": str(pem),
        "subscription_id": fake_azure.names.subscription_id,
        "resource_group": "rg",
        "local_network_gateway": "lng",
    }
    conf = tmp_path / "s2s-agent.yaml"
    conf.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="py311-cryptography"):
        config_mod.load(str(conf))


def test_errors_are_in_the_agents_family() -> None:
    assert issubclass(AzureAuthError, AzureError)
