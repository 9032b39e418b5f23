"""A compact Swagger 2.0 checker: the fake Azure's requests and replies against a contract.

The contract is normally the repository's own facts (:mod:`.schema`, :meth:`Spec.contract`);
:meth:`Spec.from_dir` loads Azure's official REST spec instead (virtualNetworkGateway.json +
network.json) for the optional cross-check (``S2S_AZURE_SPEC_DIR``).

It is not a general JSON-Schema engine: it covers what the Network spec uses for the
operations the fake serves -- ``$ref`` (local and across files), ``allOf``, ``type``,
``properties``, ``required``, ``additionalProperties``, ``items``, ``enum``, ``readOnly``,
``minimum``/``maximum``, ``minLength`` and the formats ``int32``, ``int64``, ``date-time``,
``arm-id`` and ``uuid``.

Rules
- Objects are closed: a property the schema (including its ``allOf`` parents) does not know
  is a violation, unless the schema has ``additionalProperties``. This catches typos in both
  the client's requests and the fake's own responses.
- ``required`` is enforced, except that a request never has to carry a ``readOnly`` property.
- In the official spec, a ``$ref`` to a file the spec directory does not hold is served from
  our own facts (``schema.EXTERNAL``: ``AddressSpace``, ``ErrorResponse``); anything else
  unresolved is accepted and listed in :attr:`Spec.unresolved`.

Every check returns a list of violation strings (empty = conforms); nothing is raised.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import schema as facts

log = logging.getLogger(__name__)

CONTRACT_FILE = "s2s-facts.json"
SPEC_FILES = ("virtualNetworkGateway.json", "network.json")
SPEC_DIR_ENV = "S2S_AZURE_SPEC_DIR"

_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_JSON_TYPES = {
    "string": (str,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


@dataclass
class Operation:
    """One (verb, path template) of the spec, plus what it expects and answers."""

    method: str
    template: str
    operation_id: str
    regex: re.Pattern[str]
    names: list[str]
    parameters: list[dict[str, Any]]
    responses: dict[str, Any]
    lro: bool = False
    lro_options: dict[str, Any] = field(default_factory=dict)

    @property
    def body_param(self) -> dict[str, Any] | None:
        return next((p for p in self.parameters if p.get("in") == "body"), None)

    def response_schema(self, status: int) -> tuple[bool, dict[str, Any] | None]:
        """(status declared?, schema or None) -- falls back to ``default``."""
        resp = self.responses.get(str(status))
        declared = resp is not None
        if resp is None:
            resp = self.responses.get("default")
        return declared, (resp or {}).get("schema")


def _template_regex(template: str) -> tuple[re.Pattern[str], list[str]]:
    names: list[str] = []
    out = []
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{") and part.endswith("}"):
            names.append(part[1:-1])
            out.append("([^/]+)")
        else:
            out.append(re.escape(part))
    # ARM paths are case-insensitive in their literal segments.
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE), names


class Spec:
    """The loaded spec files; resolves refs, matches paths, validates values."""

    def __init__(
        self,
        docs: dict[str, dict[str, Any]],
        main: str,
        supplement: dict[str, dict[str, Any]] | None = None,
        *,
        source: str = "",
    ) -> None:
        self.docs = docs
        self.main = main
        self.supplement = supplement or {}
        self.source = source or main
        self.unresolved: set[str] = set()
        self.operations: list[Operation] = []
        for template, item in self.docs[main]["paths"].items():
            regex, names = _template_regex(template)
            common = item.get("parameters", [])
            for method, op in item.items():
                if method == "parameters":
                    continue
                params = [self.resolve(p, main)[0] for p in common + op.get("parameters", [])]
                self.operations.append(
                    Operation(
                        method=method.upper(),
                        template=template,
                        operation_id=op.get("operationId", ""),
                        regex=regex,
                        names=names,
                        parameters=params,
                        responses=op.get("responses", {}),
                        lro=bool(op.get("x-ms-long-running-operation")),
                        lro_options=op.get("x-ms-long-running-operation-options", {}),
                    )
                )

    @classmethod
    def contract(cls) -> Spec:
        """The repository's own facts (:mod:`.schema`): what the fake validates against."""
        return cls(
            {CONTRACT_FILE: facts.document()}, CONTRACT_FILE, source="tests/fakeazure/schema.py"
        )

    @classmethod
    def from_dir(cls, api_dir: str | Path) -> Spec:
        """Azure's official REST spec (a directory holding virtualNetworkGateway.json and
        network.json, e.g. azure-rest-api-specs' network/stable/2024-05-01)."""
        api_dir = Path(api_dir)
        docs = {}
        for name in SPEC_FILES:
            path = api_dir / name
            try:
                docs[name] = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise FileNotFoundError(
                    f"Azure REST spec {path} is missing ({exc.strerror}); point {SPEC_DIR_ENV} "
                    "at the directory that holds virtualNetworkGateway.json and network.json"
                ) from exc
        supplement = {
            f"{file}#/definitions/{name}": facts.DEFINITIONS[name]
            for name, file in facts.EXTERNAL.items()
        }
        return cls(docs, SPEC_FILES[0], supplement, source=str(api_dir))

    def ref_for(self, name: str) -> dict[str, str]:
        """A ``$ref`` schema to the definition ``name``, wherever this contract keeps it."""
        for fname, doc in self.docs.items():
            if name in doc.get("definitions", {}):
                prefix = "" if fname == self.main else f"./{fname}"
                return {"$ref": f"{prefix}#/definitions/{name}"}
        raise KeyError(f"{name} is not defined in {self.source}")

    @property
    def api_version(self) -> str:
        return str(self.docs[self.main].get("info", {}).get("version", ""))

    # ---- lookup -------------------------------------------------------------------------
    def operation(self, operation_id: str) -> Operation:
        for op in self.operations:
            if op.operation_id == operation_id:
                return op
        raise KeyError(operation_id)

    def match(self, method: str, path: str) -> tuple[Operation | None, list[str]]:
        """(operation, problems): the operation for this verb+path, else why not."""
        verbs = []
        for op in self.operations:
            if op.regex.match(path):
                if op.method == method.upper():
                    return op, []
                verbs.append(op.method)
        if verbs:
            return None, [
                f"{method} {path}: verb not in spec (allowed: {', '.join(sorted(verbs))})"
            ]
        return None, [f"{method} {path}: path matches no template of the spec"]

    def definition(self, ref: str) -> tuple[dict[str, Any], str]:
        """A schema by ref (``#/definitions/X`` or ``./network.json#/definitions/X``)."""
        return self.resolve({"$ref": ref}, self.main)

    def resolve(self, schema: dict[str, Any], current: str) -> tuple[dict[str, Any], str]:
        """Follow ``$ref`` chains; returns (schema, file the schema lives in)."""
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema:
            seen += 1
            if seen > 50:
                raise ValueError(f"$ref loop at {schema['$ref']}")
            ref = schema["$ref"]
            file_part, _, pointer = ref.partition("#")
            fname = file_part.removeprefix("./") or current
            if fname not in self.docs:
                key = f"{fname}#{pointer}"
                if key in self.supplement:
                    return self.supplement[key], "network.json"
                self.unresolved.add(key)
                return {}, current
            node: Any = self.docs[fname]
            for part in pointer.strip("/").split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema, current = node, fname
        return schema, current

    # ---- validation ---------------------------------------------------------------------
    def _collect(
        self, schema: dict[str, Any], current: str
    ) -> tuple[dict[str, tuple[dict[str, Any], str]], set[str], Any, str]:
        """Flatten ``allOf``: (properties, required, additionalProperties, type)."""
        schema, current = self.resolve(schema, current)
        props: dict[str, tuple[dict[str, Any], str]] = {}
        required: set[str] = set()
        additional: Any = None
        typ = schema.get("type", "")
        for parent in schema.get("allOf", []):
            p_props, p_req, p_add, p_typ = self._collect(parent, current)
            props.update(p_props)
            required |= p_req
            additional = additional if additional is not None else p_add
            typ = typ or p_typ
        for name, sub in schema.get("properties", {}).items():
            props[name] = (sub, current)
        required |= set(schema.get("required", []))
        if "additionalProperties" in schema:
            additional = (schema["additionalProperties"], current)
        return props, required, additional, typ

    def validate(
        self,
        schema: dict[str, Any] | None,
        value: Any,
        *,
        where: str = "$",
        direction: str = "response",
        current: str = "",
    ) -> list[str]:
        """Violations of ``value`` against ``schema`` (``direction`` = request|response)."""
        if schema is None:
            return []
        errors: list[str] = []
        self._check(schema, value, where, direction, current or self.main, errors)
        return errors

    def _check(
        self,
        schema: dict[str, Any],
        value: Any,
        where: str,
        direction: str,
        current: str,
        errors: list[str],
    ) -> None:
        schema, current = self.resolve(schema, current)
        props, required, additional, typ = self._collect(schema, current)
        if not typ and (props or additional is not None):
            typ = "object"
        if value is None:
            return  # absent/null optional values are fine; `required` is checked by the parent
        if typ and not _type_ok(typ, value):
            errors.append(f"{where}: expected {typ}, got {type(value).__name__} {value!r:.60}")
            return
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{where}: {value!r} not one of {schema['enum']}")
        _check_format(schema, value, where, errors)
        if typ == "array" and "items" in schema:
            for i, item in enumerate(value):
                self._check(schema["items"], item, f"{where}[{i}]", direction, current, errors)
        if typ != "object" or not isinstance(value, dict):
            return
        for name in sorted(required):
            if name in value:
                continue
            sub, sub_file = props.get(name, ({}, current))
            if direction == "request" and self._read_only(sub, sub_file):
                continue
            errors.append(f"{where}: required property {name!r} missing")
        for name, item in value.items():
            if name in props:
                sub, sub_file = props[name]
                self._check(sub, item, f"{where}.{name}", direction, sub_file, errors)
            elif additional is not None:
                add_schema, add_file = additional
                if isinstance(add_schema, dict):
                    self._check(add_schema, item, f"{where}.{name}", direction, add_file, errors)
                elif add_schema is False:
                    errors.append(f"{where}: property {name!r} not allowed")
            elif props:
                errors.append(f"{where}: unknown property {name!r}")

    def _read_only(self, schema: dict[str, Any], current: str) -> bool:
        if schema.get("readOnly"):
            return True
        resolved, _ = self.resolve(schema, current)
        return bool(resolved.get("readOnly"))

    # ---- whole requests / responses -----------------------------------------------------
    def check_request(
        self, method: str, path: str, query: dict[str, str], body: Any, *, has_body: bool
    ) -> tuple[Operation | None, list[str]]:
        """Match the request to an operation and check its parameters and body."""
        op, problems = self.match(method, path)
        if op is None:
            return None, problems
        label = f"{method} {op.operation_id}"
        for param in op.parameters:
            if param.get("in") == "query" and param.get("required") and param["name"] not in query:
                problems.append(f"{label}: required query parameter {param['name']!r} missing")
        body_param = op.body_param
        if body_param is None:
            if has_body:
                problems.append(f"{label}: operation takes no body, one was sent")
        elif not has_body:
            if body_param.get("required"):
                problems.append(f"{label}: required body missing")
        else:
            problems += self.validate(
                body_param.get("schema"), body, where=f"{label} body", direction="request"
            )
        return op, problems

    def check_response(self, op: Operation, status: int, body: Any) -> list[str]:
        declared, schema = op.response_schema(status)
        label = f"{op.method} {op.operation_id} -> {status}"
        problems = []
        if 200 <= status < 300 and not declared:
            problems.append(f"{label}: success status not declared by the spec")
        if schema is not None and body is None:
            problems.append(f"{label}: spec declares a body, none sent")
        elif schema is None and body not in (None, b"", ""):
            if 200 <= status < 300:
                problems.append(f"{label}: spec declares no body, one was sent")
        else:
            problems += self.validate(schema, body, where=f"{label} body", direction="response")
        return problems


def _type_ok(typ: str, value: Any) -> bool:
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    allowed = _JSON_TYPES.get(typ)
    return True if allowed is None else isinstance(value, allowed)


def _check_format(schema: dict[str, Any], value: Any, where: str, errors: list[str]) -> None:
    fmt = schema.get("format")
    if isinstance(value, int) and not isinstance(value, bool):
        lo, hi = _INT_RANGES.get(fmt or "", (None, None))
        lo = schema.get("minimum", lo)
        hi = schema.get("maximum", hi)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            errors.append(f"{where}: {value} outside [{lo}, {hi}]")
    if not isinstance(value, str):
        return
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{where}: shorter than {schema['minLength']}")
    if fmt == "date-time":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            errors.append(f"{where}: {value!r} is not a date-time")
    elif fmt == "uuid" and not _UUID_RE.match(value):
        errors.append(f"{where}: {value!r} is not a uuid")
    elif fmt == "arm-id" and not value.lower().startswith(("/subscriptions/", "/providers/")):
        errors.append(f"{where}: {value!r} is not an ARM resource id")
