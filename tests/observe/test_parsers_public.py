"""Real, public strongSwan output (tests/golden/public, provenance in PROVENANCE.md)
against expected JSON that was read by eye (handread.py), not produced by the parsers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from s2s_agent.observe.parsers import parse_list_sas, parse_log, parse_statusall

PUBLIC = Path(__file__).resolve().parents[1] / "golden" / "public"
PARSERS = {"statusall": parse_statusall, "swanctl": parse_list_sas}


def _cases():
    for sub in PARSERS:
        for exp in sorted((PUBLIC / sub).glob("*.expected.json")):
            yield pytest.param(
                sub,
                exp.with_name(exp.name.replace(".expected.json", ".txt")),
                exp,
                id=f"{sub}/{exp.stem}",
            )


@pytest.mark.parametrize(("sub", "raw", "expected"), list(_cases()))
def test_public_sample_reads_as_read_by_eye(sub, raw, expected):
    snap = PARSERS[sub](raw.read_text(encoding="utf-8"))
    assert snap.warnings == ()  # real output: nothing may be skipped
    assert snap.to_dict() == json.loads(expected.read_text(encoding="utf-8"))


def test_every_sample_has_an_expectation_and_a_provenance():
    prov = (PUBLIC / "PROVENANCE.md").read_text(encoding="utf-8")
    samples = [
        p
        for sub in ("statusall", "swanctl", "logs")
        for p in (PUBLIC / sub).glob("*")
        if not p.name.endswith(".expected.json")
    ]
    assert len(samples) >= 20
    for p in samples:
        assert f"`{p.parent.name}/{p.name}`" in prov, f"{p.name}: no PROVENANCE.md entry"
        if p.parent.name != "statusall" or p.stem != "sensu_5.4.0_twenty_sas":
            assert p.with_name(p.stem + ".expected.json").exists(), p.name


def _handread():
    spec = importlib.util.spec_from_file_location("handread", PUBLIC / "handread.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_twenty_sa_sample_by_name_id_and_state():
    want = _handread().SENSU_540
    snap = parse_statusall((PUBLIC / "statusall" / "sensu_5.4.0_twenty_sas.txt").read_text())
    assert snap.warnings == ()
    assert [(i.name, i.uniqueid) for i in snap.ike_sas] == want["ike"]
    assert all(i.state == "ESTABLISHED" for i in snap.ike_sas)
    for ike in snap.ike_sas:
        assert [(c.name, c.uniqueid) for c in ike.child_sas] == want["children"][ike.uniqueid]
        assert all(c.state == "INSTALLED" for c in ike.child_sas)
    kids = {c.uniqueid: c for i in snap.ike_sas for c in i.child_sas}
    for uid, counters in want["counters"].items():
        c = kids[uid]
        assert (c.bytes_in, c.bytes_out, c.packets_in, c.packets_out) == counters


@pytest.mark.parametrize(
    "exp", sorted((PUBLIC / "logs").glob("*.expected.json")), ids=lambda p: p.stem
)
def test_public_log_lines_classify_as_read_by_eye(exp):
    raw = exp.with_name(exp.name.replace(".expected.json", ".log"))
    want = json.loads(exp.read_text(encoding="utf-8"))
    got = [e.to_dict() for e in parse_log(raw.read_text(encoding="utf-8"), year=want["year"])]
    assert got == want["events"]
