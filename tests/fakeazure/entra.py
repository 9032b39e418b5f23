"""Fake Entra ID (Azure AD) for MSAL/azure-identity's confidential-client flow.

Endpoints (``{t}`` = tenant id)
    GET  /{t}/v2.0/.well-known/openid-configuration   OIDC discovery (MSAL, v2)
    GET  /{t}/.well-known/openid-configuration        OIDC discovery (v1)
    POST /{t}/oauth2/v2.0/token                       client_credentials, ``scope``
    POST /{t}/oauth2/token                            client_credentials, ``resource`` (v1)

A client authenticates with ``client_secret`` or with ``client_assertion`` (a JWT signed
RS256/PS256 by the registered certificate's key: signature, ``x5t``/``x5t#S256``, ``aud`` =
token endpoint, ``iss`` = ``sub`` = client id, ``exp``/``nbf`` are checked).

Failures have Entra's shape::

    {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret
     provided. ... Trace ID: ... Correlation ID: ... Timestamp: ...", "error_codes": [7000215],
     "timestamp": "...", "trace_id": "...", "correlation_id": "...", "error_uri": "..."}

Access tokens are opaque random strings; ARM asks :meth:`Entra.check_bearer`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from .common import Reply, entra_timestamp, new_id

log = logging.getLogger(__name__)

ARM_SCOPE = "https://management.azure.com/.default"
ARM_RESOURCES = (
    "https://management.azure.com/",
    "https://management.azure.com",
    "https://management.core.windows.net/",
)
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = 300


@dataclass
class TokenInfo:
    client_id: str
    tenant_id: str
    expires_at: float


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Entra:
    """Token issuer for one tenant and one registered application."""

    def __init__(
        self,
        *,
        base_url: str,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        client_cert_pem: bytes,
        token_lifetime: int = 3599,
    ) -> None:
        self.base_url = base_url
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.cert = x509.load_pem_x509_certificate(client_cert_pem)
        der = self.cert.public_bytes(encoding=Encoding.DER)
        self.thumb_sha1 = hashlib.sha1(der).digest()  # noqa: S324 - x5t is SHA-1 by spec
        self.thumb_sha256 = hashlib.sha256(der).digest()
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, TokenInfo] = {}
        self.other_clients: Callable[[str], str | None] = lambda _client_id: None
        """Secret of another registered app (the fake's extra service principals), or None."""
        self._lock = threading.Lock()

    # ---- discovery ----------------------------------------------------------------------
    def openid_configuration(self, tenant: str, *, v2: bool) -> Reply:
        if tenant.lower() != self.tenant_id.lower():
            return self._error(400, "invalid_tenant", 90002, self._tenant_not_found(tenant))
        b, t = self.base_url, tenant
        token_ep = f"{b}/{t}/oauth2/v2.0/token" if v2 else f"{b}/{t}/oauth2/token"
        issuer = f"{b}/{t}/v2.0" if v2 else f"{b}/{t}/"
        body = {
            "token_endpoint": token_ep,
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{b}/{t}/discovery/{'v2.0/' if v2 else ''}keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": [
                "code",
                "id_token",
                "code id_token",
                "token id_token",
                "token",
            ],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer,
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{b}/{t}/oauth2/{'v2.0/' if v2 else ''}authorize",
            "device_authorization_endpoint": f"{b}/{t}/oauth2/{'v2.0/' if v2 else ''}devicecode",
            "end_session_endpoint": f"{b}/{t}/oauth2/{'v2.0/' if v2 else ''}logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }
        return Reply(200, body)

    # ---- token --------------------------------------------------------------------------
    def token(self, tenant: str, form: dict[str, str], *, v2: bool) -> Reply:
        if tenant.lower() != self.tenant_id.lower():
            return self._error(400, "invalid_tenant", 90002, self._tenant_not_found(tenant))
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            return self._error(
                400,
                "unsupported_grant_type",
                70003,
                f"AADSTS70003: The app requested an unsupported grant type '{grant}'.",
            )
        client_id = form.get("client_id", "")
        expected = (
            self.client_secret if client_id == self.client_id else self.other_clients(client_id)
        )
        if expected is None:
            return self._error(
                400,
                "unauthorized_client",
                700016,
                (
                    f"AADSTS700016: Application with identifier '{client_id}' was not found in the "
                    f"directory '{tenant}'. This can happen if the application has not been installed "
                    "by the administrator of the tenant or consented to by any user in the tenant. "
                    "You may have sent your authentication request to the wrong tenant."
                ),
            )
        if v2:
            if form.get("scope", "").split() != [ARM_SCOPE]:
                return self._error(
                    400,
                    "invalid_scope",
                    1002012,
                    (
                        f"AADSTS1002012: The provided value for scope {form.get('scope', '')} is not "
                        "valid. Client credential flows must have a scope value with /.default "
                        "suffixed to the resource identifier (application ID URI)."
                    ),
                )
        elif form.get("resource", "") not in ARM_RESOURCES:
            return self._error(
                400,
                "invalid_resource",
                500011,
                (
                    f"AADSTS500011: The resource principal named {form.get('resource', '')} was not "
                    f"found in the tenant named {tenant}."
                ),
            )
        if "client_assertion" in form:
            failure = self._check_assertion(form, tenant, v2=v2)
        elif "client_secret" in form:
            failure = (
                None
                if secrets.compare_digest(form["client_secret"].encode(), expected.encode())
                else self._error(
                    401,
                    "invalid_client",
                    7000215,
                    (
                        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent "
                        "in the request is the client secret value, not the client secret ID, for a "
                        f"secret added to app '{client_id}'."
                    ),
                )
            )
        else:
            failure = self._error(
                401,
                "invalid_client",
                7000218,
                (
                    "AADSTS7000218: The request body must contain the following parameter: "
                    "'client_assertion' or 'client_secret'."
                ),
            )
        if failure is not None:
            return failure
        access = secrets.token_urlsafe(48)
        with self._lock:
            self.tokens[access] = TokenInfo(client_id, tenant, time.time() + self.token_lifetime)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": access,
        }
        if not v2:
            body["resource"] = form.get("resource")
            body["expires_on"] = str(int(time.time()) + self.token_lifetime)
        return Reply(200, body)

    def _check_assertion(self, form: dict[str, str], tenant: str, *, v2: bool) -> Reply | None:
        def bad(code: int, text: str, status: int = 401) -> Reply:
            return self._error(status, "invalid_client", code, f"AADSTS{code}: {text}")

        if form.get("client_assertion_type") != JWT_BEARER:
            return bad(700023, f"Client assertion type is not supported. Use '{JWT_BEARER}'.", 400)
        try:
            h64, p64, s64 = form["client_assertion"].split(".")
            header = json.loads(_b64url_decode(h64))
            claims = json.loads(_b64url_decode(p64))
            signature = _b64url_decode(s64)
        except (ValueError, binascii.Error):
            return bad(50027, "JWT token is invalid or malformed.", 400)
        x5t = header.get("x5t#S256") or header.get("x5t")
        want = self.thumb_sha256 if "x5t#S256" in header else self.thumb_sha1
        try:
            thumb_ok = x5t is not None and _b64url_decode(x5t) == want
        except (ValueError, binascii.Error):
            thumb_ok = False
        if not thumb_ok:
            return bad(
                700027,
                "The certificate with identifier used to sign the client "
                f"assertion is not registered on application. [Reason - The key was not "
                f"found., Thumbprint of key used by client: '{x5t}']",
            )
        signing_input = f"{h64}.{p64}".encode()
        key = self.cert.public_key()
        alg = header.get("alg")
        try:
            if not isinstance(key, rsa.RSAPublicKey) or alg not in ("RS256", "PS256"):
                raise InvalidSignature
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if alg == "RS256"
                else padding.PSS(
                    mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH
                )
            )
            key.verify(signature, signing_input, pad, hashes.SHA256())
        except InvalidSignature:
            return bad(700027, "Client assertion failed signature validation.")
        token_ep = f"{self.base_url}/{tenant}/oauth2/{'v2.0/' if v2 else ''}token"
        if str(claims.get("aud", "")).lower() != token_ep.lower():
            return bad(
                700212,
                "No matching federated identity record found for presented "
                f"assertion audience '{claims.get('aud')}'.",
            )
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            return bad(
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(exp, int | float) or exp + CLOCK_SKEW < now or nbf - CLOCK_SKEW > now:
            return bad(700024, "Client assertion is not within its valid time range.")
        return None

    # ---- for ARM ------------------------------------------------------------------------
    def check_bearer(self, authorization: str | None) -> tuple[TokenInfo | None, str, str]:
        """(token, error code, message); code '' = valid."""
        if not authorization:
            return (
                None,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value:
            return (
                None,
                "AuthenticationFailed",
                (
                    "Authentication failed. The 'Authorization' header is provided in an invalid format."
                ),
            )
        with self._lock:
            info = self.tokens.get(value.strip())
        if info is None:
            return None, "InvalidAuthenticationToken", "The access token is invalid."
        if info.expires_at <= time.time():
            exp = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(info.expires_at))
            cur = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime())
            return (
                None,
                "ExpiredAuthenticationToken",
                (
                    f"The access token expiry UTC time '{exp}' is earlier than current UTC time '{cur}'."
                ),
            )
        return info, "", ""

    def expire_tokens(self) -> None:
        """Make every issued token expired (clients keep them cached)."""
        with self._lock:
            for info in self.tokens.values():
                info.expires_at = 0.0

    def revoke_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    # ---- helpers ------------------------------------------------------------------------
    def _tenant_not_found(self, tenant: str) -> str:
        return (
            f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the "
            "correct tenant ID and are signing into the correct cloud. Check with your "
            "subscription administrator, this may happen if there are no active "
            "subscriptions for the tenant."
        )

    def _error(self, status: int, error: str, code: int, description: str) -> Reply:
        trace, corr, stamp = new_id(), new_id(), entra_timestamp()
        return Reply(
            status,
            {
                "error": error,
                "error_description": f"{description} Trace ID: {trace} Correlation ID: {corr} "
                f"Timestamp: {stamp}",
                "error_codes": [code],
                "timestamp": stamp,
                "trace_id": trace,
                "correlation_id": corr,
                "error_uri": f"{self.base_url}/error?code={code}",
            },
        )
