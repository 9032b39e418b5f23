"""Golden tests: every raw sample/lab capture against its reviewed expected JSON.

Regenerate the expected files with ``tests/golden/regen.py`` and review the diff.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from s2s_agent.observe.parsers import parse_list_sas, parse_statusall, parse_vici_sas

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _load_regen():
    spec = importlib.util.spec_from_file_location("golden_regen", GOLDEN / "regen.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


regen = _load_regen()
CASES = list(regen.cases())


def _id(case) -> str:
    return str(case[0].relative_to(GOLDEN))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_golden(case):
    raw, expected, kind = case
    assert expected.exists(), f"no expected JSON for {raw}; run tests/golden/regen.py and review"
    want = json.loads(expected.read_text(encoding="utf-8"))
    assert regen.render(kind, raw) == want


def test_every_expected_file_has_its_input():
    known = {exp for _, exp, _ in CASES}
    stale = [
        p
        for p in GOLDEN.rglob("*.expected.json")
        if p not in known and p.relative_to(GOLDEN).parts[0] not in ("lab", "public")
    ]  # public/: hand-read expectations, checked by test_parsers_public.py
    assert stale == []


def test_golden_set_covers_every_parser_and_errors():
    kinds = {k for _, _, k in CASES}
    assert kinds >= {"statusall", "swanctl", "vici", "log"}
    docs = [json.loads(exp.read_text()) for _, exp, _ in CASES if exp.exists()]
    errors = [d for d in docs if isinstance(d, dict) and "error" in d]
    assert len(errors) >= 3


def _bytesify(obj):
    """What the vici package really yields: bytes values, lists of bytes."""
    if isinstance(obj, dict):
        return {k: _bytesify(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_bytesify(v) for v in obj]
    return obj.encode() if isinstance(obj, str) else obj


VICI_FILES = [c[0] for c in CASES if c[2] == "vici" and "broken" not in c[0].name]


@pytest.mark.parametrize("raw", VICI_FILES, ids=lambda p: str(p.relative_to(GOLDEN)))
def test_vici_bytes_and_str_values_give_the_same_snapshot(raw):
    replies = json.loads(raw.read_text())
    assert parse_vici_sas(_bytesify(replies)) == parse_vici_sas(replies)


def _comparable(snap):
    """Fields every source reports exactly (counters and ages are sampled at other times)."""
    return [
        (
            i.name,
            i.uniqueid,
            i.state,
            i.local_host,
            i.remote_host,
            i.local_id,
            i.remote_id,
            sorted(
                (c.name, c.uniqueid, c.state, c.mode, c.local_ts, c.remote_ts) for c in i.child_sas
            ),
        )
        for i in sorted(snap.ike_sas, key=lambda i: (i.name, i.uniqueid or 0))
    ]


LAB = GOLDEN / "lab"
LAB_SCENARIOS = sorted(
    d
    for d in (LAB.iterdir() if LAB.is_dir() else [])
    if (d / "swanctl-list-sas.txt").exists()
    and (d / "ipsec-statusall.txt").exists()
    and (d / "vici-list-sas.json").exists()
)


@pytest.mark.skipif(not LAB_SCENARIOS, reason="no lab captures in tests/golden/lab yet")
@pytest.mark.parametrize("scenario", LAB_SCENARIOS, ids=lambda d: d.name)
def test_lab_sources_agree(scenario):
    """The three views of one charon state are the same SAs (cross-checks the parsers)."""
    sw = parse_list_sas((scenario / "swanctl-list-sas.txt").read_text())
    st = parse_statusall((scenario / "ipsec-statusall.txt").read_text())
    vi = parse_vici_sas(json.loads((scenario / "vici-list-sas.json").read_text()))
    assert _comparable(sw) == _comparable(vi)
    assert _comparable(st) == _comparable(vi)
    assert sw.ike_sas, "a lab scenario without SAs proves nothing"
