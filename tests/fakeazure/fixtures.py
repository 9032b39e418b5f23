"""pytest fixtures and SDK helpers for the fake Azure.

Make them visible to all tests with one line in ``tests/conftest.py``::

    from tests.fakeazure.fixtures import fake_azure, fake_azure_server  # noqa: F401

``fake_azure`` is one HTTPS server per session, reset before and after every test (state
re-seeded, faults/requests/violations cleared, hook and Retry-After back to defaults). At
teardown the test fails if the fake saw a request or sent a response that does not conform to
the Azure spec; a test that provokes violations on purpose asserts them and then clears
``fake.violations``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .server import FakeAzure


@pytest.fixture(scope="session")
def fake_azure_server() -> Iterator[FakeAzure]:
    with FakeAzure() as fake:
        yield fake


def fresh(fake: FakeAzure) -> Iterator[FakeAzure]:
    """The body of ``fake_azure``: reset, hand out, then fail on violations and reset."""
    fake.reset()
    yield fake
    fake.finish_operations(timeout=5)
    violations = list(fake.violations)
    fake.reset()
    if violations:
        pytest.fail("fake Azure saw spec violations:\n  " + "\n  ".join(violations), pytrace=False)


@pytest.fixture
def fake_azure(fake_azure_server: FakeAzure) -> Iterator[FakeAzure]:
    yield from fresh(fake_azure_server)


def secret_credential(fake: FakeAzure, secret: str | None = None, **kwargs: Any) -> Any:
    """A real ``ClientSecretCredential`` pointed at the fake (LAB-FACTS kwargs)."""
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(
        kwargs.pop("tenant_id", fake.tenant_id),
        kwargs.pop("client_id", fake.client_id),
        fake.client_secret if secret is None else secret,
        authority=fake.url,
        disable_instance_discovery=True,
        connection_verify=fake.ca_path,
        **kwargs,
    )


def certificate_credential(
    fake: FakeAzure, certificate_path: str | None = None, **kwargs: Any
) -> Any:
    """A real ``CertificateCredential`` with the fake's registered client certificate."""
    from azure.identity import CertificateCredential

    return CertificateCredential(
        fake.tenant_id,
        kwargs.pop("client_id", fake.client_id),
        certificate_path=certificate_path or fake.client_cert_path,
        authority=fake.url,
        disable_instance_discovery=True,
        connection_verify=fake.ca_path,
        **kwargs,
    )


def network_client(fake: FakeAzure, credential: Any = None, **kwargs: Any) -> Any:
    """A real ``NetworkManagementClient`` (default api-version) talking to the fake."""
    from azure.mgmt.network import NetworkManagementClient

    return NetworkManagementClient(
        credential or secret_credential(fake),
        fake.names.subscription_id,
        base_url=fake.url,
        connection_verify=fake.ca_path,
        **kwargs,
    )
