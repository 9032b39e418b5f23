"""Fake Azure Resource Manager for the few Microsoft.Network operations s2s-agent uses.

Served (``{rg}`` prefix = ``/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network``)
    GET  {rg}/localNetworkGateways/{name}             LocalNetworkGateways_Get
    PUT  {rg}/localNetworkGateways/{name}             LocalNetworkGateways_CreateOrUpdate (LRO)
    GET  {rg}/connections/{name}                      VirtualNetworkGatewayConnections_Get
    POST {rg}/connections/{name}/resetconnection      ..._ResetConnection (LRO, 202)
    GET  /subscriptions/{sub}/providers/Microsoft.Network/locations/{loc}/operations/{id}
    GET  /subscriptions/{sub}/providers/Microsoft.Network/locations/{loc}/operationResults/{id}

Checks, in ARM's order: bearer token (401 + ``WWW-Authenticate``), ``api-version``,
subscription, RBAC (403 ``AuthorizationFailed``), resource group, resource (404), then the
operation (400 body errors, 412 ``If-Match``/``If-None-Match``, 409 while an operation on
the resource runs). PUT answers ``provisioningState: Updating`` with ``Azure-AsyncOperation``;
the operation reports ``InProgress`` ``faults.lro_delay`` times, waits for the
``on_lng_change`` hook (run in a thread when ``gatewayIpAddress`` changed), then ends
``Succeeded`` -- or ``Failed`` if the hook raised or ``faults.lro_fail`` was armed.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .common import Reply, arm_error, cloud_error, new_etag, new_id
from .lro import Operation, advance, run_hook
from .seed import PROVIDER, normalize_location

if TYPE_CHECKING:  # pragma: no cover
    from .server import FakeAzure

log = logging.getLogger(__name__)

_NAME = r"([^/]+)"
_RG = rf"^/subscriptions/{_NAME}/resourceGroups/{_NAME}/providers/Microsoft\.Network"
LNG_RE = re.compile(rf"{_RG}/localNetworkGateways/{_NAME}$", re.I)
CONN_RE = re.compile(rf"{_RG}/connections/{_NAME}$", re.I)
RESET_RE = re.compile(rf"{_RG}/connections/{_NAME}/resetconnection$", re.I)
OP_RE = re.compile(
    rf"^/subscriptions/{_NAME}/providers/Microsoft\.Network/locations/{_NAME}"
    rf"/(operations|operationResults)/{_NAME}$",
    re.I,
)
SUB_RE = re.compile(r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+))?", re.I)
TRAFFIC_PER_GET = 4096
READ_ONLY_PROPS = ("provisioningState", "resourceGuid")


class Arm:
    """ARM state (resources and operations) and the request handlers."""

    def __init__(self, fake: FakeAzure) -> None:
        self.fake = fake
        self.lock = threading.RLock()
        self.resources: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, Operation] = {}
        self.resource_groups: set[str] = set()

    # ---- helpers ------------------------------------------------------------------------
    def add_resource(self, resource: dict[str, Any]) -> None:
        with self.lock:
            self.resources[resource["id"].lower()] = resource

    def _op_url(self, op: Operation, kind: str = "operations") -> str:
        sub = op.resource_key.split("/")[2]  # /subscriptions/{sub}/...
        return (
            f"{self.fake.url}/subscriptions/{sub}/providers/{PROVIDER}/locations/"
            f"{op.location}/{kind}/{op.id}?api-version={quote(op.api_version)}"
        )

    def _retry_after(self) -> dict[str, str]:
        ra = self.fake.retry_after
        return {} if ra is None else {"Retry-After": str(ra)}

    def _busy(self, key: str) -> Operation | None:
        return next(
            (
                op
                for op in self.operations.values()
                if op.resource_key == key and op.status == "InProgress"
            ),
            None,
        )

    def _connections_to(self, lng_id: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.resources.values()
            if r.get("type") == f"{PROVIDER}/connections"
            and r["properties"].get("localNetworkGateway2", {}).get("id", "").lower()
            == lng_id.lower()
        ]

    # ---- entry point --------------------------------------------------------------------
    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Any,
        body: Any,
        body_error: str | None,
    ) -> Reply:
        info, code, msg = self.fake.entra.check_bearer(headers.get("Authorization"))
        if info is None:
            www = (
                f'Bearer authorization_uri="{self.fake.url}/{self.fake.tenant_id}", '
                f'error="invalid_token", error_description="{msg}"'
            )
            return cloud_error(401, code, msg, headers={"WWW-Authenticate": www})
        version = query.get("api-version")
        if not version:
            return arm_error("MissingApiVersionParameter")
        if version not in self.fake.api_versions:
            supported = ",".join(self.fake.api_versions)
            return arm_error("InvalidApiVersionParameter", version=version, supported=supported)
        m = SUB_RE.match(path)
        if not m:
            return arm_error("InvalidRequestUri", path=path)
        sub = m.group(1)
        tenancy = self.fake.tenancy
        if sub.lower() not in tenancy.subscriptions():
            return arm_error("SubscriptionNotFound", sub=sub)
        route = self._route(method, path)
        if route is None:
            return arm_error("NotFound", path=path)
        action, scope, handler, args = route
        principal = tenancy.principals.get(info.client_id)
        # RBAC: a role on this subscription (per principal), and no test-denied action
        if action and (
            self.fake.faults.is_denied(action) or principal is None or not principal.may_access(sub)
        ):
            return arm_error(
                "AuthorizationFailed",
                client_id=info.client_id,
                object_id=principal.object_id if principal else self.fake.object_id,
                action=action,
                scope=scope,
            )
        if m.group(2) and f"{sub}/{m.group(2)}".lower() not in self.resource_groups:
            return arm_error("ResourceGroupNotFound", rg=m.group(2))
        with self.lock:
            return handler(
                *args,
                sub=sub,
                method=method,
                query=query,
                headers=headers,
                body=body,
                body_error=body_error,
                version=version,
            )

    def _route(self, method: str, path: str) -> tuple[str, str, Callable[..., Reply], tuple] | None:
        ns = PROVIDER
        if m := OP_RE.match(path):
            if method != "GET":
                return "", path, self._method_not_allowed, (method,)
            return (
                f"{ns}/locations/operations/read",
                path,
                self._operation,
                (m.group(3), m.group(4)),
            )
        if m := RESET_RE.match(path):
            if method != "POST":
                return "", path, self._method_not_allowed, (method,)
            return (
                f"{ns}/connections/resetconnection/action",
                path,
                self._reset,
                (m.group(2), m.group(3)),
            )
        for regex, rtype, verbs in (
            (LNG_RE, "localNetworkGateways", ("GET", "PUT")),
            (CONN_RE, "connections", ("GET",)),
        ):
            if m := regex.match(path):
                if method not in verbs:
                    return "", path, self._method_not_allowed, (method,)
                verb = "read" if method == "GET" else "write"
                return f"{ns}/{rtype}/{verb}", path, self._resource, (rtype, m.group(2), m.group(3))
        return None

    def _method_not_allowed(self, verb: str, **_: Any) -> Reply:
        return arm_error("MethodNotAllowed", verb=verb)

    def _not_found(self, rtype: str, rg: str, name: str) -> Reply:
        return arm_error("ResourceNotFound", rtype=f"{PROVIDER}/{rtype}", name=name, rg=rg)

    def _conflict(self, busy: Operation) -> Reply:
        url = self._op_url(busy)
        return arm_error("AnotherOperationInProgress", op_url=url)

    # ---- resources ----------------------------------------------------------------------
    def _resource(
        self,
        rtype: str,
        rg: str,
        name: str,
        *,
        sub: str,
        method: str,
        headers: Any,
        body: Any,
        body_error: str | None,
        version: str,
        **_: Any,
    ) -> Reply:
        rid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{PROVIDER}/{rtype}/{name}"
        key = rid.lower()
        current = self.resources.get(key)
        if method == "GET":
            if current is None:
                return self._not_found(rtype, rg, name)
            if rtype == "connections":
                props = current["properties"]
                if props.get("connectionStatus") == "Connected":
                    props["ingressBytesTransferred"] += TRAFFIC_PER_GET
                    props["egressBytesTransferred"] += TRAFFIC_PER_GET // 2
            return Reply(200, copy.deepcopy(current), {"ETag": current["etag"]})
        return self._put_lng(rid, rg, name, current, headers, body, body_error, version)

    def _put_lng(
        self,
        rid: str,
        rg: str,
        name: str,
        current: dict[str, Any] | None,
        headers: Any,
        body: Any,
        body_error: str | None,
        version: str,
    ) -> Reply:
        if body_error:
            return arm_error("InvalidRequestFormat", detail=body_error)
        if not isinstance(body, dict):
            return arm_error("InvalidRequestContent")
        location = normalize_location(str(body.get("location") or ""))
        if not location:
            return arm_error("LocationRequired")
        if current is not None and location != current["location"]:
            return arm_error(
                "InvalidResourceLocation", name=name, old=current["location"], rg=rg, new=location
            )
        if_match, if_none = headers.get("If-Match"), headers.get("If-None-Match")
        if if_match is not None and (
            current is None or (if_match != "*" and if_match != current["etag"])
        ):
            return arm_error(
                "PreconditionFailed",
                detail=f"Precondition failed: the If-Match value '{if_match}' does not match the "
                f"current etag of resource '{rid}'. Read the resource again and retry with its etag.",
            )
        if if_none == "*" and current is not None:
            return arm_error(
                "PreconditionFailed",
                detail=f"Precondition failed: If-None-Match '*' was sent but resource '{rid}' exists.",
            )
        busy = self._busy(rid.lower())
        if busy is not None:
            return self._conflict(busy)
        props = {
            k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY_PROPS
        }
        ip = props.get("gatewayIpAddress")
        if ip is not None:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                return arm_error(
                    "InvalidRequestFormat",
                    detail=f"'{ip}' is not a valid IP address.",
                    target="properties.gatewayIpAddress",
                )
        old = copy.deepcopy(current)
        props["resourceGuid"] = current["properties"]["resourceGuid"] if current else new_id()
        props["provisioningState"] = "Updating"
        new: dict[str, Any] = {
            "name": name,
            "id": rid,
            "etag": new_etag(),
            "type": f"{PROVIDER}/localNetworkGateways",
            "location": location,
        }
        if body.get("tags") is not None:
            new["tags"] = body["tags"]
        new["properties"] = props
        self.resources[rid.lower()] = new
        op = Operation(
            id=new_id(),
            resource_key=rid.lower(),
            location=location,
            api_version=version,
            polls_left=self.fake.faults.lro_delay,
            failure=self.fake.faults.take_lro_failure(),
        )
        self.operations[op.id] = op
        old_ip = (old or {}).get("properties", {}).get("gatewayIpAddress")
        if old is not None and old_ip != ip:
            conns = self._connections_to(rid)
            op.connections = tuple(c["id"].lower() for c in conns)
            for c in conns:
                c["properties"]["connectionStatus"] = "Connecting"
            hook = self.fake.on_lng_change
            if hook is not None:
                op.hook = threading.Thread(
                    target=run_hook,
                    args=(op, hook, old, copy.deepcopy(new)),
                    name=f"fakeazure-hook-{op.id[:8]}",
                    daemon=True,
                )
                op.hook.start()
        hdrs = {
            "Azure-AsyncOperation": self._op_url(op),
            **self._retry_after(),
        }
        return Reply(200 if old is not None else 201, copy.deepcopy(new), hdrs)

    # ---- connections --------------------------------------------------------------------
    def _reset(self, rg: str, name: str, *, sub: str, version: str, **_: Any) -> Reply:
        rid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{PROVIDER}/connections/{name}"
        rid = rid.lower()
        conn = self.resources.get(rid)
        if conn is None:
            return self._not_found("connections", rg, name)
        busy = self._busy(rid)
        if busy is not None:
            return self._conflict(busy)
        conn["properties"]["connectionStatus"] = "Connecting"
        op = Operation(
            id=new_id(),
            resource_key=rid,
            location=conn["location"],
            api_version=version,
            polls_left=self.fake.faults.lro_delay,
            failure=self.fake.faults.take_lro_failure(),
            connections=(rid,),
        )
        self.operations[op.id] = op
        return Reply(
            202,
            None,
            {
                "Azure-AsyncOperation": self._op_url(op),
                "Location": self._op_url(op, "operationResults"),
                **self._retry_after(),
            },
        )

    # ---- long-running operations --------------------------------------------------------
    def _operation(self, kind: str, op_id: str, **_: Any) -> Reply:
        op = self.operations.get(op_id)
        if op is None:
            return arm_error("OperationNotFound", op_id=op_id)
        advance(op, self.resources)
        if kind.lower() == "operationresults":
            if op.status == "InProgress":
                return Reply(
                    202,
                    None,
                    {
                        "Location": self._op_url(op, "operationResults"),
                        **self._retry_after(),
                    },
                )
            if op.status == "Failed":
                err = op.error or {}
                return cloud_error(
                    500, err.get("code", "InternalServerError"), err.get("message", "")
                )
            return Reply(204, None)
        body: dict[str, Any] = {"status": op.status}
        if op.error:
            body["error"] = op.error
        return Reply(200, body, self._retry_after() if op.status == "InProgress" else {})

    def finish_all(self, timeout: float = 10.0) -> None:
        """Run every pending operation to its end (joins hook threads)."""
        with self.lock:
            ops = list(self.operations.values())
        for op in ops:
            if op.hook is not None:
                op.hook.join(timeout)
        with self.lock:
            for op in ops:
                op.polls_left = 0
                advance(op, self.resources)
