"""Small shared pieces of the fake Azure: the reply type and error bodies."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """What a handler answers: status, JSON body (None = empty), extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def cloud_error(
    status: int,
    code: str,
    message: str,
    *,
    target: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """ARM's error envelope: ``{"error": {"code", "message", "target"?, "details"?}}``."""
    err: dict[str, Any] = {"code": code, "message": message}
    if target is not None:
        err["target"] = target
    if details:
        err["details"] = details
    return Reply(status, {"error": err}, dict(headers or {}))


def new_id() -> str:
    return str(uuid.uuid4())


def new_etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def utc_now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".0000000Z"


def entra_timestamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())


#: ARM's codes and message wording (``{placeholders}`` filled by :func:`arm_error`).
ARM_ERRORS: dict[str, tuple[int, str]] = {
    "MissingApiVersionParameter": (
        400,
        "The api-version query parameter (?api-version=) is required for all requests.",
    ),
    "InvalidApiVersionParameter": (
        400,
        "The api-version '{version}' is invalid. The supported versions are '{supported}'.",
    ),
    "InvalidRequestUri": (404, "The request URI '{path}' is not valid."),
    "NotFound": (404, "No HTTP resource was found that matches the request URI '{path}'."),
    "SubscriptionNotFound": (404, "The subscription '{sub}' could not be found."),
    "ResourceGroupNotFound": (404, "Resource group '{rg}' could not be found."),
    "ResourceNotFound": (
        404,
        "The Resource '{rtype}/{name}' under resource group '{rg}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    ),
    "OperationNotFound": (404, "The operation '{op_id}' could not be found."),
    "AuthorizationFailed": (
        403,
        "The client '{client_id}' with object id '{object_id}' does not have authorization to "
        "perform action '{action}' over scope '{scope}' or the scope is invalid. If access was "
        "recently granted, please refresh your credentials.",
    ),
    "MethodNotAllowed": (405, "The requested resource does not support http method '{verb}'."),
    "InvalidRequestFormat": (400, "Cannot parse the request. {detail}"),
    "InvalidRequestContent": (
        400,
        "The request content was invalid and could not be deserialized.",
    ),
    "LocationRequired": (400, "The location property is required for this definition."),
    "InvalidResourceLocation": (
        400,
        "The resource '{name}' already exists in location '{old}' in resource group '{rg}'. "
        "A resource with the same name cannot be created in location '{new}'. Please select "
        "a new resource name.",
    ),
    "PreconditionFailed": (412, "{detail}"),
    "AnotherOperationInProgress": (
        409,
        "Another operation on this or dependent resource is in progress. To retrieve status "
        "of the operation use uri: {op_url}.",
    ),
}


def arm_error(
    code: str, *, target: str | None = None, headers: dict[str, str] | None = None, **fmt: str
) -> Reply:
    """The CloudError reply for one of :data:`ARM_ERRORS`."""
    status, template = ARM_ERRORS[code]
    return cloud_error(status, code, template.format(**fmt), target=target, headers=headers)
