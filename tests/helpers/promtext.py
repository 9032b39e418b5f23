"""A strict parser of the Prometheus text exposition format (version 0.0.4), for tests.

prometheus_client is not a dependency of the project; its own parser is lenient anyway.
This one rejects what Prometheus' own text parser rejects, and more that a scrape would
accept but that is wrong for us: a sample before its family's ``# TYPE``, a family's samples
split by another family, the same series twice, HELP/TYPE twice, a bad metric or label
name, a label value with an escape other than ``\\\\``, ``\\"`` or ``\\n``, a raw newline or
quote in a label value, a value that is not a float, a missing final newline.
"""

from __future__ import annotations

import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ExpositionError(AssertionError):
    pass


def _labels(text: str, pos: int, line: str) -> tuple[dict[str, str], int]:
    labels: dict[str, str] = {}
    while True:
        if text[pos] == "}":
            return labels, pos + 1
        m = LABEL.match(text, pos)
        if not m:
            raise ExpositionError(f"bad label name at {pos}: {line!r}")
        name, pos = m.group(), m.end()
        if name in labels:
            raise ExpositionError(f"label {name} twice: {line!r}")
        if text[pos : pos + 2] != '="':
            raise ExpositionError(f'expected =" after {name}: {line!r}')
        pos += 2
        value = []
        while True:
            if pos >= len(text):
                raise ExpositionError(f"unterminated label value: {line!r}")
            c = text[pos]
            if c == "\\":
                nxt = text[pos + 1 : pos + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ExpositionError(f"bad escape \\{nxt} in {line!r}")
                value.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
                pos += 2
            elif c == '"':
                pos += 1
                break
            else:
                value.append(c)
                pos += 1
        labels[name] = "".join(value)
        if text[pos] == ",":
            pos += 1
        elif text[pos] != "}":
            raise ExpositionError(f"expected , or }} at {pos}: {line!r}")


def _value(s: str, line: str) -> float:
    if s in ("NaN", "+Inf", "-Inf"):
        return {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}[s]
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", s):
        raise ExpositionError(f"bad value {s!r}: {line!r}")
    return float(s)


def parse(text: str) -> dict[str, dict]:
    """{family: {"type", "help", "samples": {frozenset(labels.items()): value}}}."""
    if not text.endswith("\n"):
        raise ExpositionError("the exposition must end with a newline")
    families: dict[str, dict] = {}
    current: str | None = None
    closed: set[str] = set()
    for line in text[:-1].split("\n"):
        if not line:
            raise ExpositionError("empty line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise ExpositionError(f"bad metric name {name!r}")
                fam = families.setdefault(name, {"type": None, "help": None, "samples": {}})
                if name in closed or (current not in (None, name) and fam["samples"]):
                    raise ExpositionError(f"{name}: family split: {line!r}")
                if current is not None and current != name:
                    closed.add(current)
                current = name
                key = parts[1].lower()
                if fam[key] is not None:
                    raise ExpositionError(f"{name}: {parts[1]} twice")
                if fam["samples"]:
                    raise ExpositionError(f"{name}: {parts[1]} after its samples")
                rest = parts[3] if len(parts) > 3 else ""
                if key == "type" and rest not in TYPES:
                    raise ExpositionError(f"{name}: bad type {rest!r}")
                fam[key] = rest
            continue
        m = NAME.match(line)
        if not m:
            raise ExpositionError(f"bad sample line {line!r}")
        name, pos = m.group(), m.end()
        labels: dict[str, str] = {}
        if line[pos : pos + 1] == "{":
            labels, pos = _labels(line, pos + 1, line)
        if line[pos : pos + 1] != " ":
            raise ExpositionError(f"expected a space before the value: {line!r}")
        fields = line[pos + 1 :].split(" ")
        if len(fields) not in (1, 2):
            raise ExpositionError(f"bad value/timestamp: {line!r}")
        value = _value(fields[0], line)
        fam = families.get(name)
        if fam is None or fam["type"] is None:
            raise ExpositionError(f"{name}: sample before its # TYPE")
        if current != name:
            raise ExpositionError(f"{name}: its samples are split by another family")
        key = frozenset(labels.items())
        if key in fam["samples"]:
            raise ExpositionError(f"{name}{labels}: the same series twice")
        fam["samples"][key] = value
    return families


def sample(families: dict, name: str, **labels: str) -> float:
    """The value of the one series of ``name`` whose labels include ``labels``."""
    found = [
        v
        for k, v in families[name]["samples"].items()
        if all(dict(k).get(a) == b for a, b in labels.items())
    ]
    if len(found) != 1:
        raise AssertionError(f"{name}{labels}: {len(found)} series match")
    return found[0]
