"""What the fake Azure knows of the ARM REST contract, written down in this repository.

The facts the fake needs about Microsoft.Network (api-version 2024-05-01) for the operations
s2s-agent uses: the shapes of a local network gateway (LNG), a VPN connection, an
operation-status body and ARM's error bodies; which fields are required or read-only; the
paths, verbs, status codes and long-running-operation (LRO) style of each operation.

The notation below is ours (small helper functions); :func:`document` turns it into a
Swagger-2.0-shaped dict for the checker in :mod:`.spec`, which validates every request and
reply of the fake against it. ``tests/fakeazure/test_crosscheck.py`` compares these facts with
Azure's official REST spec when ``S2S_AZURE_SPEC_DIR`` points at it, so drift is caught.

Coverage: a definition is either complete (every field the official spec has), or lists in
``OMITTED`` the fields we leave out on purpose (the fake never sends them and the agent never
sets them), or is in ``OPAQUE`` (an object we only pass through, e.g. ``{"properties": {}}``
of the VPN gateway a connection points at). ``EXTERNAL`` names definitions the official spec
keeps in files outside virtualNetworkGateway.json/network.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

API_VERSION = "2024-05-01"
"""The api-version of the REST contract these facts describe (the spec's ``info.version``)."""
PROVIDER_PATH = (
    "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network"
)

Schema = dict[str, Any]


# ---- notation ---------------------------------------------------------------------------------
def string(**kw: Any) -> Schema:
    return {"type": "string", **kw}


def integer(fmt: str, **kw: Any) -> Schema:
    return {"type": "integer", "format": fmt, **kw}


def boolean() -> Schema:
    return {"type": "boolean"}


def array(items: Schema, **kw: Any) -> Schema:
    return {"type": "array", "items": items, **kw}


def ref(name: str, **kw: Any) -> Schema:
    return {"$ref": f"#/definitions/{name}", **kw}


def ro(schema: Schema) -> Schema:
    """Read-only: Azure sets it; a request need not (and should not) carry it."""
    return {**schema, "readOnly": True}


def choice(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def obj(
    props: dict[str, Schema],
    *,
    required: tuple[str, ...] = (),
    base: str | None = None,
    additional: Schema | None = None,
) -> Schema:
    """A closed object (unknown fields are violations) with an optional base definition."""
    out: Schema = {"properties": props}
    if required:
        out["required"] = list(required)
    if base:
        out["allOf"] = [ref(base)]
    if additional is not None:
        out["type"] = "object"
        out["additionalProperties"] = additional
    return out


# ---- definitions ------------------------------------------------------------------------------
DEFINITIONS: dict[str, Schema] = {
    # Every ARM resource: id, name and type (set by ARM), location, string tags.
    "Resource": obj(
        {
            "id": string(),
            "name": ro(string()),
            "type": ro(string()),
            "location": string(),
            "tags": {"type": "object", "additionalProperties": string()},
        }
    ),
    "SubResource": obj({"id": string()}),
    "ProvisioningState": ro(choice("Succeeded", "Updating", "Deleting", "Failed")),
    # The LNG: Azure's picture of our side (public IP or FQDN, our prefixes, BGP).
    "LocalNetworkGateway": obj(
        {"properties": ref("LocalNetworkGatewayPropertiesFormat"), "etag": ro(string())},
        required=("properties",),
        base="Resource",
    ),
    "LocalNetworkGatewayPropertiesFormat": obj(
        {
            "localNetworkAddressSpace": ref("AddressSpace"),
            "gatewayIpAddress": string(),
            "fqdn": string(),
            "bgpSettings": ref("BgpSettings"),
            "resourceGuid": ro(string()),
            "provisioningState": ro(ref("ProvisioningState")),
        }
    ),
    "AddressSpace": obj({"addressPrefixes": array(string())}),
    "BgpSettings": obj(
        {
            "asn": integer("int64", minimum=0, maximum=4294967295),
            "bgpPeeringAddress": string(),
            "peerWeight": integer("int32"),
            "bgpPeeringAddresses": array(ref("IPConfigurationBgpPeeringAddress")),
        }
    ),
    "IPConfigurationBgpPeeringAddress": obj(
        {
            "ipconfigurationId": string(),
            "defaultBgpIpAddresses": ro(array(string())),
            "customBgpIpAddresses": array(string()),
            "tunnelIpAddresses": ro(array(string())),
        }
    ),
    # The S2S connection between the Azure VPN gateway and the LNG.
    "VirtualNetworkGatewayConnection": obj(
        {
            "properties": ref("VirtualNetworkGatewayConnectionPropertiesFormat"),
            "etag": ro(string()),
        },
        required=("properties",),
        base="Resource",
    ),
    "VirtualNetworkGatewayConnectionPropertiesFormat": obj(
        {
            "virtualNetworkGateway1": ref("VirtualNetworkGateway"),
            "localNetworkGateway2": ref("LocalNetworkGateway"),
            "connectionType": ref("VirtualNetworkGatewayConnectionType"),
            "connectionProtocol": ref("ConnectionProtocol"),
            "routingWeight": integer("int32"),
            "dpdTimeoutSeconds": integer("int32"),
            "connectionMode": ref("VirtualNetworkGatewayConnectionMode"),
            "sharedKey": string(),
            "connectionStatus": ro(ref("VirtualNetworkGatewayConnectionStatus")),
            "tunnelConnectionStatus": ro(array(ref("TunnelConnectionHealth"))),
            "egressBytesTransferred": ro(integer("int64")),
            "ingressBytesTransferred": ro(integer("int64")),
            "enableBgp": boolean(),
            "useLocalAzureIpAddress": boolean(),
            "usePolicyBasedTrafficSelectors": boolean(),
            "resourceGuid": ro(string()),
            "provisioningState": ro(ref("ProvisioningState")),
            "expressRouteGatewayBypass": boolean(),
            "enablePrivateLinkFastPath": boolean(),
        },
        required=("virtualNetworkGateway1", "connectionType"),
    ),
    "VirtualNetworkGatewayConnectionStatus": choice(
        "Unknown", "Connecting", "Connected", "NotConnected"
    ),
    "VirtualNetworkGatewayConnectionType": choice(
        "IPsec", "Vnet2Vnet", "ExpressRoute", "VPNClient"
    ),
    "ConnectionProtocol": choice("IKEv2", "IKEv1"),
    "VirtualNetworkGatewayConnectionMode": choice("Default", "ResponderOnly", "InitiatorOnly"),
    "TunnelConnectionHealth": obj(
        {
            "tunnel": ro(string()),
            "connectionStatus": ro(ref("VirtualNetworkGatewayConnectionStatus")),
            "ingressBytesTransferred": ro(integer("int64")),
            "egressBytesTransferred": ro(integer("int64")),
            "lastConnectionEstablishedUtcTime": ro(string()),
        }
    ),
    "VirtualNetworkGateway": obj(
        {"properties": ref("VirtualNetworkGatewayPropertiesFormat"), "etag": ro(string())},
        required=("properties",),
        base="Resource",
    ),
    "VirtualNetworkGatewayPropertiesFormat": obj({}),
    # Errors: ARM's envelope, the operation-status error, the resetconnection error.
    "CloudError": obj({"error": ref("CloudErrorBody")}),
    "CloudErrorBody": obj(
        {
            "code": string(),
            "message": string(),
            "target": string(),
            "details": array(ref("CloudErrorBody")),
        }
    ),
    "AzureAsyncOperationResult": obj(
        {"status": choice("InProgress", "Succeeded", "Failed"), "error": ref("Error")}
    ),
    "Error": obj(
        {
            "code": string(),
            "message": string(),
            "target": string(),
            "details": array(ref("ErrorDetails")),
            "innerError": string(),
        }
    ),
    "ErrorDetails": obj({"code": string(), "target": string(), "message": string()}),
    "ErrorResponse": obj({"error": ref("ErrorDetails")}),
}

OMITTED: dict[str, tuple[str, ...]] = {
    # VNet-to-VNet, ExpressRoute, NAT, custom BGP addresses, custom IPsec/traffic-selector
    # policies: not part of a pfSense S2S tunnel; the fake never sends them.
    "VirtualNetworkGatewayConnectionPropertiesFormat": (
        "authorizationKey",
        "virtualNetworkGateway2",
        "peer",
        "ingressNatRules",
        "egressNatRules",
        "gatewayCustomBgpIpAddresses",
        "ipsecPolicies",
        "trafficSelectorPolicies",
    ),
    "VirtualNetworkGateway": ("extendedLocation", "identity"),
}
OPAQUE = frozenset({"VirtualNetworkGatewayPropertiesFormat"})
EXTERNAL = {"AddressSpace": "virtualNetwork.json", "ErrorResponse": "networkWatcher.json"}


# ---- operations -------------------------------------------------------------------------------
@dataclass(frozen=True)
class OperationFact:
    """One REST operation: verb, path template, body, answers and LRO style."""

    operation_id: str
    method: str
    path: str
    responses: dict[str, str | None]  # status (or "default") -> definition name / no body
    body: str | None = None  # definition of the (required) request body
    final_state_via: str | None = None  # LRO: where the final result is read; None = not LRO
    name_min_length: int = 0  # minLength of the resource-name path parameter

    @property
    def lro(self) -> bool:
        return self.final_state_via is not None


OPERATIONS = (
    OperationFact(
        "LocalNetworkGateways_Get",
        "GET",
        PROVIDER_PATH + "/localNetworkGateways/{localNetworkGatewayName}",
        {"200": "LocalNetworkGateway", "default": "CloudError"},
        name_min_length=1,
    ),
    OperationFact(
        "LocalNetworkGateways_CreateOrUpdate",
        "PUT",
        PROVIDER_PATH + "/localNetworkGateways/{localNetworkGatewayName}",
        {"200": "LocalNetworkGateway", "201": "LocalNetworkGateway", "default": "CloudError"},
        body="LocalNetworkGateway",
        final_state_via="azure-async-operation",
        name_min_length=1,
    ),
    OperationFact(  # a legal request the agent never makes: the fake answers 405
        "LocalNetworkGateways_Delete",
        "DELETE",
        PROVIDER_PATH + "/localNetworkGateways/{localNetworkGatewayName}",
        {"200": None, "202": None, "204": None, "default": "CloudError"},
        final_state_via="location",
        name_min_length=1,
    ),
    OperationFact(
        "VirtualNetworkGatewayConnections_Get",
        "GET",
        PROVIDER_PATH + "/connections/{virtualNetworkGatewayConnectionName}",
        {"200": "VirtualNetworkGatewayConnection", "default": "CloudError"},
    ),
    OperationFact(
        "VirtualNetworkGatewayConnections_ResetConnection",
        "POST",
        PROVIDER_PATH + "/connections/{virtualNetworkGatewayConnectionName}/resetconnection",
        {"202": None, "default": "ErrorResponse"},
        final_state_via="location",
    ),
)
OPERATION_STATUS = "AzureAsyncOperationResult"
"""Body of ``GET .../locations/{loc}/operations/{id}`` (the ``Azure-AsyncOperation`` URL)."""
ERROR = "CloudError"
"""Body of every ARM error reply."""


def _parameters(op: OperationFact) -> list[Schema]:
    names = [n.strip("{}") for n in op.path.split("/") if n.startswith("{")]
    params: list[Schema] = []
    for name in names:
        p: Schema = {"name": name, "in": "path", "required": True, "type": "string"}
        if op.name_min_length and name == names[-1]:
            p["minLength"] = op.name_min_length
        params.append(p)
    params.append({"name": "api-version", "in": "query", "required": True, "type": "string"})
    if op.body:
        params.append(
            {"name": "parameters", "in": "body", "required": True, "schema": ref(op.body)}
        )
    return params


def document() -> dict[str, Any]:
    """The facts as one Swagger-2.0-shaped document (for :class:`.spec.Spec`)."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        responses = {
            code: ({"schema": ref(name)} if name else {}) for code, name in op.responses.items()
        }
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "parameters": _parameters(op),
            "responses": responses,
        }
        if op.lro:
            entry["x-ms-long-running-operation"] = True
            entry["x-ms-long-running-operation-options"] = {"final-state-via": op.final_state_via}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "swagger": "2.0",
        "info": {"title": "s2s-agent fake Azure facts", "version": API_VERSION},
        "paths": paths,
        "definitions": DEFINITIONS,
    }
