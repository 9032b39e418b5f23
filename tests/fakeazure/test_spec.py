"""The checker itself, on the repository's REST facts: it accepts what Azure sends and
catches what is wrong. (Against Azure's official spec: test_crosscheck.py.)"""

from __future__ import annotations

import copy

import pytest

from tests.fakeazure.seed import Names, seed_connection, seed_lng
from tests.fakeazure.server import load_spec
from tests.fakeazure.spec import Spec

LNG_PATH = (
    "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/localNetworkGateways/gw"
)
CONN_PATH = "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/connections/cn"
Q = {"api-version": "2024-05-01"}
LNG_BODY = {
    "location": "westeurope",
    "tags": {"site": "office"},
    "properties": {
        "gatewayIpAddress": "198.51.100.10",
        "localNetworkAddressSpace": {"addressPrefixes": ["192.168.1.0/24"]},
        "bgpSettings": {"asn": 65010, "bgpPeeringAddress": "192.168.1.1", "peerWeight": 0},
    },
}


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec()


def lng_body() -> dict:
    return copy.deepcopy(LNG_BODY)


def test_seeded_resources_and_a_create_body_conform(spec: Spec) -> None:
    n = Names()
    get_lng = spec.operation("LocalNetworkGateways_Get")
    assert spec.check_response(get_lng, 200, seed_lng(n)) == []
    get_conn = spec.operation("VirtualNetworkGatewayConnections_Get")
    assert spec.check_response(get_conn, 200, seed_connection(n)) == []
    op, problems = spec.check_request("PUT", LNG_PATH, Q, lng_body(), has_body=True)
    assert op is not None and op.operation_id == "LocalNetworkGateways_CreateOrUpdate"
    assert problems == []
    assert spec.unresolved == set()


def test_gateway_ip_as_number_is_a_violation(spec: Spec) -> None:
    body = lng_body()
    body["properties"]["gatewayIpAddress"] = 1234
    _, problems = spec.check_request("PUT", LNG_PATH, Q, body, has_body=True)
    assert len(problems) == 1
    assert "gatewayIpAddress" in problems[0] and "expected string" in problems[0]


def test_unknown_verb_and_unknown_path(spec: Spec) -> None:
    op, problems = spec.check_request("POST", LNG_PATH, Q, None, has_body=False)
    assert op is None and "verb not in spec" in problems[0] and "PUT" in problems[0]
    op, problems = spec.check_request("GET", LNG_PATH + "/oops", Q, None, has_body=False)
    assert op is None and "matches no template" in problems[0]


def test_path_literals_are_case_insensitive(spec: Spec) -> None:
    op, problems = spec.check_request(
        "GET", LNG_PATH.replace("resourceGroups", "resourcegroups"), Q, None, has_body=False
    )
    assert op is not None and problems == []


def test_missing_api_version_and_body(spec: Spec) -> None:
    _, problems = spec.check_request("PUT", LNG_PATH, {}, None, has_body=False)
    assert any("api-version" in p for p in problems)
    assert any("required body missing" in p for p in problems)
    _, problems = spec.check_request("GET", LNG_PATH, Q, {"x": 1}, has_body=True)
    assert problems == ["GET LocalNetworkGateways_Get: operation takes no body, one was sent"]


def test_unknown_property_and_enum_and_nested_types(spec: Spec) -> None:
    body = lng_body()
    body["properties"]["gatewayIPAddress"] = "1.2.3.4"  # wrong case = unknown
    body["properties"]["localNetworkAddressSpace"]["addressPrefixes"] = ["10.0.0.0/8", 7]
    body["tags"] = {"env": 3}  # additionalProperties: string
    _, problems = spec.check_request("PUT", LNG_PATH, Q, body, has_body=True)
    assert any("unknown property 'gatewayIPAddress'" in p for p in problems)
    assert any("addressPrefixes[1]: expected string" in p for p in problems)
    assert any("tags.env: expected string" in p for p in problems)
    conn = seed_connection(Names())
    conn["properties"]["connectionStatus"] = "Up"
    conn["properties"]["ingressBytesTransferred"] = "12"
    problems = spec.check_response(
        spec.operation("VirtualNetworkGatewayConnections_Get"), 200, conn
    )
    assert any("'Up' not one of" in p for p in problems)
    assert any("ingressBytesTransferred: expected integer" in p for p in problems)


def test_read_only_required_only_in_responses(spec: Spec) -> None:
    # `properties` is required (not readOnly): a request without it is wrong.
    _, problems = spec.check_request("PUT", LNG_PATH, Q, {"location": "westeurope"}, has_body=True)
    assert any("required property 'properties' missing" in p for p in problems)
    schema = {
        "properties": {"etag": {"type": "string", "readOnly": True}, "x": {"type": "string"}},
        "required": ["etag"],
    }
    assert spec.validate(schema, {"x": "a"}, direction="request") == []
    assert spec.validate(schema, {"x": "a"}, direction="response") == [
        "$: required property 'etag' missing"
    ]


def test_refs_and_allof(spec: Spec) -> None:
    # LocalNetworkGateway gets `location`/`tags` from Resource via allOf.
    op = spec.operation("LocalNetworkGateways_Get")
    assert (
        spec.check_response(op, 404, {"error": {"code": "ResourceNotFound", "message": "m"}}) == []
    )
    problems = spec.check_response(op, 404, {"error": {"code": 404}})
    assert problems and "expected string" in problems[0]
    body = seed_lng(Names())
    body["location"] = ["westeurope"]
    assert any("location: expected string" in p for p in spec.check_response(op, 200, body))


def test_response_status_and_body_presence(spec: Spec) -> None:
    reset = spec.operation("VirtualNetworkGatewayConnections_ResetConnection")
    assert reset.lro and reset.lro_options == {"final-state-via": "location"}
    assert spec.check_response(reset, 202, None) == []
    assert "not declared" in spec.check_response(reset, 200, None)[0]
    assert "declares no body" in spec.check_response(reset, 202, {"x": 1})[0]
    get = spec.operation("LocalNetworkGateways_Get")
    assert "declares a body, none sent" in spec.check_response(get, 200, None)[0]


def test_formats(spec: Spec) -> None:
    assert spec.validate({"type": "integer", "format": "int32"}, 2**31) != []
    assert spec.validate({"type": "integer", "format": "int64"}, 2**40) == []
    assert spec.validate({"type": "integer"}, True) != []
    assert spec.validate({"type": "string", "format": "date-time"}, "2024-05-01T10:00:00Z") == []
    assert spec.validate({"type": "string", "format": "date-time"}, "yesterday") != []
    assert spec.validate({"type": "string", "format": "arm-id"}, "rg/x") != []
    assert spec.validate({"type": "string", "format": "uuid"}, "not-a-uuid") != []


def test_reset_error_uses_its_own_shape(spec: Spec) -> None:
    reset = spec.operation("VirtualNetworkGatewayConnections_ResetConnection")
    assert spec.check_response(reset, 404, {"error": {"code": "NotFound", "message": "m"}}) == []
    problems = spec.check_response(reset, 404, {"error": {"code": "x", "details": []}})
    assert any("unknown property 'details'" in p for p in problems)
