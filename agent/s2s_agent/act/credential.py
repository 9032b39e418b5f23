"""Azure credentials that work on a pfSense box with or without ``cryptography``.

``azure.identity`` imports ``cryptography`` (compiled code) as soon as it is imported
(``azure/identity/_internal/aadclient_certificate.py``), and pfSense's package repository does
not promise a ``py311-cryptography``. msal, azure-core and azure-mgmt-network import without it.

* :func:`secret_credential`: azure-identity's ``ClientSecretCredential`` when ``cryptography``
  is importable, else :class:`MsalSecretCredential`: the same client-credentials flow on
  ``msal.ConfidentialClientApplication``, the engine ``ClientSecretCredential`` itself runs
  (``azure/identity/_internal/msal_credentials.py``), with the same ``authority``,
  ``disable_instance_discovery`` and ``connection_verify`` meaning.
* :func:`certificate_credential`: azure-identity's ``CertificateCredential`` (it needs
  ``cryptography`` to read the PEM); without it a :class:`~.errors.ConfigError` says what to
  install. :func:`missing_for_certificate` is the check ``validate-config`` runs.

Errors keep azure-identity's shape, so :mod:`.azure_errors` classifies both the same way:
Entra ID refusing the credential -> ``ClientAuthenticationError`` (message with the AADSTS
code); no answer (DNS, TCP, TLS, timeout) -> ``ServiceRequestError``; Entra busy (HTTP 5xx,
408, 429, ``temporarily_unavailable``) -> ``ServiceResponseError``, which the agent retries
(azure-identity reports those as ``ClientAuthenticationError`` after its own retries). The secret is never
part of a message or a ``repr``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from ..config import azure as azure_cfg
from ..config.azure import AzureSettings, read_credential
from ..core.errors import ConfigError

log = logging.getLogger(__name__)

#: FreeBSD package (port origin) that provides ``cryptography`` for python311.
#: msal's per-request timeout in seconds: (connect, read).
HTTP_TIMEOUT = (10.0, 30.0)
#: OAuth 2.0 error codes (RFC 6749 5.2, Entra) that mean "try again later", not "refused".
TRANSIENT_OAUTH_ERRORS = ("temporarily_unavailable", "server_error")


def _http_status(text: str) -> int | None:
    m = re.search(r"HTTP Error: (\d{3})", text)
    return int(m.group(1)) if m else None


class _Http:
    """msal's ``http_client``: a requests session that always verifies TLS with ``verify``
    (a CA bundle path, or True for certifi), whatever REQUESTS_CA_BUNDLE says."""

    def __init__(self, verify: str | bool):
        import requests

        self._session = requests.Session()
        self._verify = verify

    def get(self, url: str, **kwargs: Any) -> Any:
        kwargs["verify"] = self._verify
        return self._session.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        kwargs["verify"] = self._verify
        return self._session.post(url, **kwargs)

    def close(self) -> None:
        self._session.close()


class MsalSecretCredential:
    """azure-core ``TokenCredential`` for a service principal's client secret, on msal only.

    ``authority``: the Entra host (``https://login.microsoftonline.com``); the tenant is
    appended as azure-identity does. ``disable_instance_discovery``: trust ``authority``
    without asking Entra about it (sovereign clouds, tests). ``connection_verify``: CA bundle
    path for TLS. Tokens are cached by msal until shortly before they expire.
    """

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        *,
        authority: str = "https://login.microsoftonline.com",
        disable_instance_discovery: bool = False,
        connection_verify: str | None = None,
        timeout: tuple[float, float] = HTTP_TIMEOUT,
    ):
        self._tenant_id, self._client_id = tenant_id, client_id
        self._secret = client_secret
        self._authority = authority.rstrip("/")
        self._instance_discovery = not disable_instance_discovery
        self._verify: str | bool = connection_verify or True
        self._timeout = timeout
        self._app: Any = None
        self._http: _Http | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MsalSecretCredential(tenant_id={self._tenant_id!r}, client_id={self._client_id!r})"

    def _application(self) -> Any:
        import msal

        if self._app is None:
            if self._http is None:
                self._http = _Http(self._verify)
            self._app = msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._secret,
                authority=f"{self._authority}/{self._tenant_id}",
                http_client=self._http,
                instance_discovery=self._instance_discovery,
                timeout=self._timeout,
                token_cache=msal.TokenCache(),
            )
        return self._app

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> Any:
        """An ``azure.core.credentials.AccessToken`` for ``scopes`` (one ``.default`` scope)."""
        import msal
        import requests
        from azure.core.credentials import AccessToken
        from azure.core.exceptions import (
            ClientAuthenticationError,
            ServiceRequestError,
            ServiceResponseError,
        )

        if not scopes:
            raise ValueError("get_token needs at least one scope")
        try:
            with self._lock:
                app = self._application()
                result = app.acquire_token_for_client(list(scopes), claims_challenge=claims)
        except requests.RequestException as exc:
            raise ServiceRequestError(f"{type(exc).__name__}: {exc}") from None
        except msal.exceptions.MsalServiceError as exc:  # "HTTP Error: 503" from msal
            status = _http_status(str(exc))
            text = f"Entra ID answered {self._redact(str(exc))}"
            if status is not None and (status >= 500 or status in (408, 429)):
                raise ServiceResponseError(text) from None
            raise ClientAuthenticationError(message=text) from None
        except (msal.exceptions.MsalError, ValueError, RuntimeError) as exc:
            # authority not valid, discovery document unusable, token answer not JSON
            raise ClientAuthenticationError(
                message=f"{type(exc).__name__}: {self._redact(str(exc))}"
            ) from None
        if not isinstance(result, dict) or "access_token" not in result:
            result = result if isinstance(result, dict) else {}
            error = str(result.get("error") or "no token")
            detail = self._redact(str(result.get("error_description") or error))
            text = f"ClientSecretCredential (msal) authentication failed: {detail}"
            if error in TRANSIENT_OAUTH_ERRORS:
                raise ServiceResponseError(text)
            raise ClientAuthenticationError(message=text)
        expires_in = int(result.get("expires_in") or 3600)
        return AccessToken(result["access_token"], int(time.time()) + expires_in)

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> MsalSecretCredential:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()


def secret_credential(
    tenant_id: str, client_id: str, secret: str, *, prefer_msal: bool = False, **common: Any
) -> Any:
    """azure-identity's ClientSecretCredential where ``cryptography`` is importable, else the
    msal one. ``common``: authority, disable_instance_discovery, connection_verify."""
    if azure_cfg.have_cryptography() and not prefer_msal:
        try:
            from azure.identity import ClientSecretCredential
        except ImportError as exc:  # cryptography present but unusable (e.g. a broken build)
            log.warning("azure.identity cannot be imported (%s); using msal directly", exc)
        else:
            return ClientSecretCredential(tenant_id, client_id, secret, **common)
    common.pop("retry_total", None)  # azure-identity's pipeline option; ours retries itself
    return MsalSecretCredential(tenant_id, client_id, secret, **common)


def certificate_credential(
    tenant_id: str, client_id: str, pem: bytes, *, key: str, path: str, **common: Any
) -> Any:
    """azure-identity's CertificateCredential; ConfigError (naming ``key``/``path``) when
    ``cryptography`` is missing or the PEM has no usable key."""
    missing = azure_cfg.missing_for_certificate()
    if missing:
        raise ConfigError(f"{missing} (credential file {path})", key=key)
    from azure.identity import CertificateCredential

    try:
        return CertificateCredential(tenant_id, client_id, certificate_data=pem, **common)
    except ValueError as exc:  # not a PEM with a private key
        raise ConfigError(
            f"credential file {path} is not a PEM certificate with its private key "
            f"({type(exc).__name__})",
            key=key,
        ) from None


def make_credential(settings: AzureSettings, *, owner_uid: int = 0) -> tuple[Any, tuple[str, ...]]:
    """The azure-identity credential and the strings to redact from any message."""
    # retry_total=0: the token endpoint's retries are ours too (azure.AzureClient._call,
    # bounded by the call's deadline); the identity pipeline's own would add ~5 s per try
    common: dict[str, Any] = {"authority": settings.authority, "retry_total": 0}
    if settings.custom_authority:
        common["disable_instance_discovery"] = True
    if settings.ca_bundle:
        common["connection_verify"] = settings.ca_bundle
    if settings.client_secret_file:
        raw = read_credential(settings, owner_uid=owner_uid)
        secret = raw.decode("utf-8", "replace").strip()
        # azure-identity when cryptography is there, else msal alone (s2s_agent.act.credential)
        cred = secret_credential(settings.tenant_id, settings.client_id, secret, **common)
        return cred, (secret,)
    assert settings.client_certificate_file is not None
    pem = read_credential(settings, owner_uid=owner_uid)
    cred = certificate_credential(
        settings.tenant_id,
        settings.client_id,
        pem,
        key="azure.client_certificate_file",
        path=settings.client_certificate_file,
        **common,
    )
    return cred, ()
