"""An independent check of the goldens that regen.py wrote from the parsers' own output.

A deliberately naive second reader (string methods, no code shared with the parsers)
extracts what matters for health: each IKE SA's name, id and state, each CHILD SA's
name, id, state and byte counters. Every regenerated expected file must agree with it,
so a parser bug frozen into a golden by ``regen.py`` cannot pass unnoticed. The lab
``single`` capture also gets hand-checked field assertions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def naive_statusall(text: str) -> list[tuple]:
    """[(name, id, state, [(child, id, state, bytes_in, bytes_out)])] of a statusall text."""
    out, section, kids = [], False, {}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Security Associations"):
            section = True
            continue
        if not section or ": " not in line:
            continue
        head, rest = line.split(": ", 1)
        rest = rest.strip()
        if head.endswith("]") and "[" in head and "..." in rest:
            name, uid = head[:-1].rsplit("[", 1)
            out.append((name, int(uid), rest.split(",")[0].split(" ")[0], []))
        elif head.endswith("}") and "{" in head and out:
            name, uid = head[:-1].rsplit("{", 1)
            words = [w.strip() for w in rest.split(",")]
            if (
                len(words) > 1
                and words[0].isupper()
                and words[1].split("_")[0] in ("TUNNEL", "TRANSPORT", "BEET")
            ):
                kid = [name, int(uid), words[0], None, None]
                out[-1][3].append(kid)
                kids[(name, uid)] = kid
            elif "bytes_i" in rest and (name, uid) in kids:
                toks = rest.replace(",", " ").split()
                kids[(name, uid)][3] = int(toks[toks.index("bytes_i") - 1])
                kids[(name, uid)][4] = int(toks[toks.index("bytes_o") - 1])
    return [(n, u, s, [tuple(k) for k in ks]) for n, u, s, ks in out]


def naive_list_sas(text: str) -> list[tuple]:
    out = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0 and ": #" in line:
            name, rest = line.split(": #", 1)
            parts = [p.strip() for p in rest.split(",")]
            out.append((name, int(parts[0]), None if parts[1] == "(null)" else parts[1], []))
        elif indent == 2 and ": #" in line and ", reqid " in line and out:
            name, rest = line.split(": #", 1)
            parts = [p.strip() for p in rest.split(",")]
            out[-1][3].append(
                [name, int(parts[0]), None if parts[2] == "(null)" else parts[2], None, None]
            )
        elif indent == 4 and line.split(" ")[0] in ("in", "out") and out and out[-1][3]:
            n = [p.strip() for p in line.split(",") if p.strip().endswith(" bytes")]
            if n and n[0][:-6].strip().isdigit():
                out[-1][3][-1][3 if line.startswith("in") else 4] = int(n[0][:-6])
    return [(n, u, s, [tuple(k) for k in ks]) for n, u, s, ks in out]


def from_expected(doc: dict) -> list[tuple]:
    return [
        (
            i["name"],
            i["uniqueid"],
            i["state"],
            [
                (c["name"], c["uniqueid"], c["state"], c["bytes_in"], c["bytes_out"])
                for c in i["child_sas"]
            ],
        )
        for i in doc["ike_sas"]
    ]


def _cases():
    pairs = [
        ("samples/statusall/*.txt", naive_statusall),
        ("samples/swanctl/*.txt", naive_list_sas),
        ("lab/*/ipsec-statusall.txt", naive_statusall),
        ("lab/*/swanctl-list-sas.txt", naive_list_sas),
    ]
    for pat, reader in pairs:
        for raw in sorted(GOLDEN.glob(pat)):
            if raw.name.startswith(("broken", "truncated")):
                continue  # damaged on purpose: the naive reader does not handle damage
            rel = raw.relative_to(GOLDEN)
            if rel.parts[0] == "lab":
                exp = GOLDEN / "expected" / rel.with_name(raw.stem + ".expected.json")
            else:
                exp = raw.with_name(raw.stem + ".expected.json")
            yield pytest.param(raw, exp, reader, id=str(rel))


@pytest.mark.parametrize(("raw", "exp", "reader"), list(_cases()))
def test_regenerated_golden_agrees_with_a_naive_reader(raw, exp, reader):
    doc = json.loads(exp.read_text(encoding="utf-8"))
    assert "error" not in doc
    assert from_expected(doc) == reader(raw.read_text(encoding="utf-8"))


def test_enough_regenerated_goldens_are_checked():
    assert len(list(_cases())) >= 15


def test_lab_single_fields_checked_by_hand():
    # tests/golden/lab/single: con1 up between 198.51.100.2 (onprem) and 203.0.113.1 (azure)
    for name in ("ipsec-statusall", "swanctl-list-sas", "vici-list-sas"):
        doc = json.loads(
            (GOLDEN / "expected" / "lab" / "single" / f"{name}.expected.json").read_text()
        )
        (ike,) = doc["ike_sas"]
        assert (ike["name"], ike["state"], ike["local_host"], ike["remote_host"]) == (
            "con1",
            "ESTABLISHED",
            "198.51.100.2",
            "203.0.113.1",
        )
        (child,) = ike["child_sas"]
        assert (child["name"], child["state"], child["mode"]) == ("con1", "INSTALLED", "TUNNEL")
        assert child["local_ts"] == ["192.168.1.0/24"] and child["remote_ts"] == ["10.1.10.0/24"]
