"""Cross-check: the repository's REST facts (schema.py) against Azure's official REST spec.

Runs only when ``S2S_AZURE_SPEC_DIR`` points at a directory holding the spec's
``virtualNetworkGateway.json`` and ``network.json`` (api-version 2024-05-01; e.g. a checkout
of azure-rest-api-specs' ``specification/network/resource-manager/Microsoft.Network/stable/
2024-05-01``; ``.ci/run`` sets it when the CI machine has a copy). It catches drift both ways:
a field, enum value, required/read-only flag, status code or LRO style we state differently
from Azure, and a field Azure has that our facts neither define nor list in ``OMITTED``.
It also runs the fake against the official spec and checks its real replies.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakeazure import schema
from tests.fakeazure.seed import Names, seed_connection, seed_lng
from tests.fakeazure.server import FakeAzure
from tests.fakeazure.spec import SPEC_DIR_ENV, SPEC_FILES, Spec

SPEC_DIR = os.environ.get(SPEC_DIR_ENV, "")
pytestmark = pytest.mark.skipif(
    not SPEC_DIR or not all((Path(SPEC_DIR) / f).is_file() for f in SPEC_FILES),
    reason=f"{SPEC_DIR_ENV} does not point at Azure's REST spec (optional cross-check)",
)


@pytest.fixture(scope="module")
def official() -> Spec:
    return Spec.from_dir(SPEC_DIR)


def _name(ref: str | None) -> str | None:
    return ref.rsplit("/", 1)[-1] if ref else None


def _flatten(spec: Spec, schema_: dict[str, Any], where: str) -> tuple[dict, set, str]:
    props, required, _, typ = spec._collect(schema_, where)  # noqa: SLF001 - same package
    return props, required, typ


def _describe(spec: Spec, sub: dict[str, Any], where: str) -> dict[str, Any]:
    """What matters of one property: type, format, enum, bounds, read-only, ref, items."""
    out: dict[str, Any] = {"ref": _name(sub.get("$ref")), "readOnly": bool(sub.get("readOnly"))}
    resolved, where2 = spec.resolve(sub, where)
    out["readOnly"] = out["readOnly"] or bool(resolved.get("readOnly"))
    if out["ref"] and resolved.get("properties") is not None:
        return out  # an object: compared as its own definition
    for key in ("type", "format", "minimum", "maximum", "minLength"):
        out[key] = resolved.get(key)
    out["enum"] = sorted(resolved.get("enum", []))
    if "items" in resolved:
        out["items"] = _describe(spec, resolved["items"], where2)
    if "additionalProperties" in resolved:
        out["additional"] = _describe(spec, resolved["additionalProperties"], where2)
    return out


def test_api_version(official: Spec) -> None:
    assert official.api_version == schema.API_VERSION


@pytest.mark.parametrize("fact", schema.OPERATIONS, ids=lambda f: f.operation_id)
def test_operation(official: Spec, fact: schema.OperationFact) -> None:
    op = official.operation(fact.operation_id)
    assert (op.method, op.template) == (fact.method, fact.path)
    answers = {code: _name((r.get("schema") or {}).get("$ref")) for code, r in op.responses.items()}
    assert answers == fact.responses
    body = op.body_param
    assert (_name(body["schema"]["$ref"]) if body else None) == fact.body
    assert (op.lro, op.lro_options.get("final-state-via")) == (fact.lro, fact.final_state_via)
    ours = Spec.contract().operation(fact.operation_id)
    keyed = {(p["in"], p["name"]): p for p in op.parameters}
    assert set(keyed) == {(p["in"], p["name"]) for p in ours.parameters}
    for p in ours.parameters:
        theirs = keyed[(p["in"], p["name"])]
        assert bool(theirs.get("required")) == bool(p.get("required")), p["name"]
        assert theirs.get("minLength") == p.get("minLength"), p["name"]


@pytest.mark.parametrize("name", sorted(set(schema.DEFINITIONS) - set(schema.EXTERNAL)))
def test_definition(official: Spec, name: str) -> None:
    ref = official.ref_for(name)["$ref"]
    theirs, t_file = official.resolve({"$ref": ref}, official.main)
    mine_spec = Spec.contract()
    mine, m_file = mine_spec.resolve(mine_spec.ref_for(name), mine_spec.main)
    if "enum" in theirs or "enum" in mine:
        assert _describe(mine_spec, mine, m_file) == _describe(official, theirs, t_file)
        return
    t_props, t_req, _ = _flatten(official, theirs, t_file)
    m_props, m_req, _ = _flatten(mine_spec, mine, m_file)
    assert m_req == t_req, f"{name}: required differs"
    if name in schema.OPAQUE:
        return
    omitted = set(schema.OMITTED.get(name, ()))
    assert set(t_props) == set(m_props) | omitted, (
        f"{name}: Azure's fields {sorted(set(t_props) - set(m_props) - omitted)} are neither in "
        f"schema.py nor in OMITTED; ours unknown to Azure: {sorted(set(m_props) - set(t_props))}"
    )
    for prop, (sub, where) in m_props.items():
        t_sub, t_where = t_props[prop]
        assert _describe(mine_spec, sub, where) == _describe(official, t_sub, t_where), (
            f"{name}.{prop}"
        )


def test_external_definitions_are_still_external(official: Spec) -> None:
    """Definitions we keep ourselves because the spec keeps them in other files."""
    for name in schema.EXTERNAL:
        with pytest.raises(KeyError):
            official.ref_for(name)


def test_seed_and_examples_conform_both_ways(official: Spec) -> None:
    mine = Spec.contract()
    n = Names()
    for spec in (official, mine):
        assert (
            spec.check_response(spec.operation("LocalNetworkGateways_Get"), 200, seed_lng(n)) == []
        )
        get_conn = spec.operation("VirtualNetworkGatewayConnections_Get")
        assert spec.check_response(get_conn, 200, seed_connection(n)) == []
    examples = Path(SPEC_DIR) / "examples"
    for path in sorted(examples.glob("*Get.json")) if examples.is_dir() else []:
        data = json.loads(path.read_text())
        body = data["responses"]["200"]["body"]
        op_id = (
            "LocalNetworkGateways_Get"
            if "localNetworkGateways" in body["id"]
            else "VirtualNetworkGatewayConnections_Get"
        )
        assert official.check_response(official.operation(op_id), 200, body) == [], path.name
        for field in schema.OMITTED["VirtualNetworkGatewayConnectionPropertiesFormat"]:
            body["properties"].pop(field, None)
        assert mine.check_response(mine.operation(op_id), 200, body) == [], path.name


def test_the_fakes_real_replies_conform_to_the_official_spec(official: Spec) -> None:
    """Every verb the agent uses, the LRO polls and an error, checked by Azure's spec."""
    with FakeAzure(spec=official) as fake:
        auth = {"Authorization": f"Bearer {fake.token()}"}

        def call(method: str, path: str, **kw: Any) -> requests.Response:
            return requests.request(
                method,
                fake.url + path,
                params={"api-version": schema.API_VERSION},
                headers=auth,
                verify=fake.ca_path,
                timeout=10,
                **kw,
            )

        lng = call("GET", fake.lng_id).json()
        body = {"location": lng["location"], "properties": {**lng["properties"]}}
        body["properties"]["gatewayIpAddress"] = "203.0.113.77"
        put = call("PUT", fake.lng_id, json=body)
        assert put.status_code == 200
        poll = requests.get(
            put.headers["Azure-AsyncOperation"], headers=auth, verify=fake.ca_path, timeout=10
        )
        assert poll.status_code == 200
        fake.finish_operations()
        assert call("GET", fake.connection_id).status_code == 200
        assert call("POST", fake.connection_id + "/resetconnection").status_code == 202
        assert call("GET", fake.lng_id + "x").status_code == 404
        fake.finish_operations()
        assert fake.violations == []
