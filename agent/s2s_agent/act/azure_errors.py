"""The Azure error family and the translation of azure-core exceptions into it.

Every message names what the admin checks next (credential file, tenant/client id, the RBAC
action and ``etc/azure-role.json``, the full resource id) and never contains a secret:
:func:`translate` scrubs every string it was asked to redact. The SDK is imported lazily
(inside :func:`translate`), so importing this module costs nothing.

Classification (``classify``) used by the retry loop of :mod:`s2s_agent.act.azure`:

    ========================== ============ ===========================================
    SDK exception / status     kind         error raised when not retried
    ========================== ============ ===========================================
    ClientAuthenticationError  (token endpoint: see below)
      AADSTS code in the body  auth         AzureAuthError (the credential was refused)
      network error underneath transient    AzureTokenEndpointError ("cannot reach")
      TLS verification failure fatal        AzureTokenEndpointError (check ca_bundle)
      HTTP 408/429/5xx, MSAL's transient    AzureTokenEndpointError (Entra's failure)
        temporarily_unavailable
      no discovery document    transient    AzureTokenEndpointError (check authority)
      anything else            auth         AzureAuthError
    401                        auth         AzureAuthError
    403                        forbidden    AzureForbiddenError (action parsed)
    404                        notfound     AzureNotFoundError (resource id)
    409                        busy         AzureBusyError
    412                        precondition AzureError (status 412)
    408, 429, 5xx              transient    AzureError / AzureTimeoutError at deadline
    ServiceRequest/Response    transient    AzureError ("cannot reach ...")
    TLS verification failure   fatal        AzureError (check ca_bundle)
    anything else              fatal        AzureError
    ========================== ============ ===========================================
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from ..core.errors import S2SError

log = logging.getLogger(__name__)

ROLE_FILE = "etc/azure-role.json"
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_AADSTS_RE = re.compile(r"(AADSTS\d+)(?::\s*([^\r\n]*?))?(?=\s+Trace ID:|\r|\n|$)")
_ACTION_RE = re.compile(r"perform action '([^']+)' over scope '([^']+)'")


class AzureError(S2SError):
    """Azure answered with an error (base of the family); ``status``/``code`` when known."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        self.status = status
        self.code = code
        self.wrote: bool | None = None  # False: certainly no write was sent; None: unknown
        super().__init__(message)


class AzureAuthError(AzureError):
    """Entra ID refused the credential (or ARM refused the token): 401 / AADSTS."""

    def __init__(self, message: str, *, aadsts: str | None = None, status: int | None = None):
        self.aadsts = aadsts
        super().__init__(message, status=status, code=aadsts)


class AzureForbiddenError(AzureError):
    """403: the service principal lacks an RBAC action (``action``) on ``scope``."""

    def __init__(self, message: str, *, action: str | None, scope: str | None, code: str):
        self.action = action
        self.scope = scope
        super().__init__(message, status=403, code=code)


class AzureNotFoundError(AzureError):
    """404: ``resource_id`` (or its resource group / subscription) does not exist."""

    def __init__(self, message: str, *, resource_id: str, code: str | None):
        self.resource_id = resource_id
        super().__init__(message, status=404, code=code)


class AzureBusyError(AzureError):
    """409: another operation runs on the gateway; retry later."""


class AzureTimeoutError(AzureError):
    """The overall deadline expired (retries or the long-running operation)."""


class AzureTokenEndpointError(AzureError):
    """The token endpoint (Entra ID) could not be reached, was not trusted (TLS) or failed
    itself (5xx/429): not a verdict on the credential. ``reason``: network, tls, server,
    discovery. No token means no Azure request was sent."""

    def __init__(self, message: str, *, reason: str, status: int | None = None):
        self.reason = reason
        super().__init__(message, status=status, code=None)


WITHHELD = "(Azure's message withheld: it contains the credential's text)"


def _redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``.

    A secret shorter than 8 characters could match ordinary words of the message (a
    2-character secret "in" would garble every "in"): when such a secret occurs, the whole
    message is withheld instead, so it neither leaks nor turns into nonsense."""
    for s in secrets:
        if s and s in text:
            if len(s) < 8:
                return WITHHELD
            text = text.replace(s, "***")
    return text


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _code_message(exc: BaseException) -> tuple[str | None, str]:
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None) if err is not None else None
    message = getattr(err, "message", None) if err is not None else None
    if not message:
        message = getattr(exc, "message", None) or str(exc)
    return code, " ".join(str(message).split())


def retry_after(exc: BaseException) -> float | None:
    """The ``Retry-After`` seconds of a throttled/5xx answer, if it sent an integer one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(int(str(value).strip()))) if value is not None else None
    except ValueError:
        return None


_HTTP_ERROR_RE = re.compile(r"HTTP Error: (\d{3})")
_MSAL_TRANSIENT = ("temporarily_unavailable", "server_error")


def _chain(exc: BaseException) -> list[BaseException]:
    out, seen = [], set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def token_failure(exc: BaseException) -> tuple[str, int | None] | None:
    """Why getting a token failed when it was not the credential: ``(reason, status)`` with
    reason ``network``, ``tls``, ``server`` or ``discovery``; None = Entra refused it (or
    nothing tells otherwise). azure-identity wraps everything in ClientAuthenticationError;
    the cause chain and MSAL's message tell them apart."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    text = " ".join(str(e) for e in _chain(exc))
    if _AADSTS_RE.search(text):
        return None  # Entra read our request and answered with a verdict
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text or "[SSL" in text:
        return "tls", None
    if any(isinstance(e, ServiceRequestError | ServiceResponseError) for e in _chain(exc)[1:]):
        return "network", None
    m = _HTTP_ERROR_RE.search(text)
    if m:
        status = int(m.group(1))
        return ("server", status) if status in TRANSIENT_STATUS else None
    if any(t in text for t in _MSAL_TRANSIENT):
        return "server", None
    if "Unable to get authority configuration" in text:
        return "discovery", None
    return None


def classify(exc: BaseException) -> str:
    """``auth``, ``forbidden``, ``notfound``, ``busy``, ``precondition``, ``transient``
    or ``fatal`` (see the module table)."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, ClientAuthenticationError):
        why = token_failure(exc)
        if why is None:
            return "auth"
        return "fatal" if why[0] == "tls" else "transient"
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "non-TLS" in text:
            return "fatal"
        return "transient"
    if isinstance(exc, HttpResponseError):
        status = _status(exc)
        kinds = {401: "auth", 403: "forbidden", 404: "notfound", 409: "busy", 412: "precondition"}
        if status in kinds:
            return kinds[status]
        if status in TRANSIENT_STATUS:
            return "transient"
    return "fatal"


def translate(
    exc: BaseException,
    *,
    what: str,
    resource_id: str,
    tenant_id: str,
    client_id: str,
    credential_file: str,
    endpoint: str,
    secrets: Iterable[str] = (),
    authority: str | None = None,
) -> AzureError:
    """Turn an azure-core/azure-identity exception into one of our typed errors.

    ``what`` is the operation ("reading the local network gateway"); ``secrets`` are strings
    that must never appear in the message.
    """
    secrets = tuple(secrets)
    kind = classify(exc)
    status = _status(exc)
    code, message = _code_message(exc)
    message = _redact(message, secrets)
    from azure.core.exceptions import ClientAuthenticationError

    why = token_failure(exc) if isinstance(exc, ClientAuthenticationError) else None
    if why is not None:
        return _token_error(why, message, what, authority or "the Entra ID authority")
    if kind == "auth":
        m = _AADSTS_RE.search(message)
        aadsts = m.group(1) if m else None
        detail = f"{m.group(1)}: {m.group(2)}" if m and m.group(2) else (aadsts or message)
        if not m and code:
            detail = f"{code}: {message}"
        return AzureAuthError(
            f"Azure refused our credential while {what} ({detail}); check the credential file "
            f"{credential_file}, tenant_id {tenant_id} and client_id {client_id} (is the "
            "secret expired or the certificate not uploaded to the app registration?)",
            aadsts=aadsts,
            status=status,
        )
    if kind == "forbidden":
        m = _ACTION_RE.search(message)
        action, scope = (m.group(1), m.group(2)) if m else (None, None)
        missing = f"the action {action} on {scope}" if action else "a permission"
        return AzureForbiddenError(
            f"Azure denied {what}: client_id {client_id} lacks {missing} ({code or 'Forbidden'}); "
            f"assign the least-privilege role in {ROLE_FILE} to this service principal on "
            "the resource group (az role definition create / az role assignment create)",
            action=action,
            scope=scope,
            code=code or "Forbidden",
        )
    if kind == "notfound":
        return AzureNotFoundError(
            f"Azure has no {resource_id} ({code or 'NotFound'}: {message}); check "
            "azure.subscription_id, azure.resource_group and the resource name",
            resource_id=resource_id,
            code=code,
        )
    if kind == "busy":
        return AzureBusyError(
            f"Azure is busy with another operation on the gateway while {what} "
            f"({code or 'Conflict'}); retry later",
            status=409,
            code=code,
        )
    if status is None and kind in ("transient", "fatal") and not code:
        hint = " (check azure.ca_bundle / the system CA store)" if "CERTIFICATE" in message else ""
        return AzureError(f"cannot reach Azure at {endpoint} while {what}: {message}{hint}")
    where = f"HTTP {status}" if status is not None else "operation"
    return AzureError(
        f"Azure failed {what}: {where} {code or ''}: {message}".replace("  ", " "),
        status=status,
        code=code,
    )


def _token_error(
    why: tuple[str, int | None], message: str, what: str, authority: str
) -> AzureError:
    reason, status = why
    message = message.removeprefix("Authentication failed: ")
    if reason == "tls":
        text = (
            f"the TLS certificate of the token endpoint {authority} is not trusted while "
            f"{what} ({message}); check azure.ca_bundle / the system CA store and the "
            "clock; the credential was not tried"
        )
    elif reason == "network":
        text = (
            f"cannot reach the token endpoint {authority} while {what} ({message}); check "
            "DNS, routing, a proxy or firewall on the way to it (azure.authority / "
            "azure.cloud); the credential was not tried"
        )
    elif reason == "server":
        where = f"HTTP {status}" if status else message
        text = (
            f"the token endpoint {authority} failed while {what} ({where}): Entra ID's "
            "own failure, retried until the deadline; the credential was not refused"
        )
    else:
        text = (
            f"the token endpoint {authority} gave no usable discovery document while "
            f"{what} ({message}); check azure.authority / azure.cloud and the tenant_id"
        )
    return AzureTokenEndpointError(text, reason=reason, status=status)
