"""Damage stays local: each real sample, with one line deleted or mutated at a time.

Nothing may raise, and every IKE SA other than the one the line belongs to must come
out exactly as from the intact text, with all its CHILD SAs. Samples: the public ones
(tests/golden/public), the lab captures and the hand-made samples.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from s2s_agent.core.errors import ParseError
from s2s_agent.observe.parsers import parse_list_sas, parse_log, parse_statusall

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _files(kind: str) -> list[Path]:
    pats = {
        "statusall": (
            "public/statusall/*.txt",
            "lab/*/ipsec-statusall.txt",
            "samples/statusall/*.txt",
        ),
        "swanctl": ("public/swanctl/*.txt", "lab/*/swanctl-list-sas.txt", "samples/swanctl/*.txt"),
    }
    return [
        p for pat in pats[kind] for p in sorted(GOLDEN.glob(pat)) if not p.name.startswith("broken")
    ]


MUTATIONS = {
    "delete": lambda ln: None,
    "garbage": lambda ln: "\x00\ufffd garbage \x01",
    "half": lambda ln: ln[: len(ln) // 2],
    "hash": lambda ln: ln[: len(ln) // 3] + "#" + ln[len(ln) // 3 + 1 :],
    "unindented": lambda ln: ln.lstrip(),
}

_STATUS_SA = re.compile(r"\s*([^\s\[\]{}]+)(?:\[(\d+)\]|\{(\d+)\}):")


def _owner_statusall(lines: list[str]) -> list[tuple[str, int] | None]:
    """Which IKE SA (name, id) each line belongs to, read independently of the parser."""
    owners, current, section = [], None, False
    for ln in lines:
        if ln.lstrip().startswith("Security Associations"):
            section = True
        m = _STATUS_SA.match(ln) if section else None
        if m and m.group(2) is not None:
            current = (m.group(1), int(m.group(2)))
        owners.append(current if m else None)
    return owners


def _owner_swanctl(lines: list[str]) -> list[tuple[str, int] | None]:
    owners, current = [], None
    for ln in lines:
        if ln and not ln.startswith(" "):
            name, _, rest = ln.partition(": #")
            current = (name, int(rest.split(",")[0]))
        owners.append(current)
    return owners


def _key(ike) -> tuple:
    return (ike.name, ike.uniqueid)


def _check(fn, owner_of, path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    full = fn(text)
    want = {_key(i): i for i in full.ike_sas}
    lines = text.split("\n")
    owners = owner_of(lines)
    checked = 0
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        for name, mutate in MUTATIONS.items():
            new = mutate(line)
            mutated = lines[:i] + ([] if new is None else [new]) + lines[i + 1 :]
            try:
                got = fn("\n".join(mutated))
            except ParseError:
                # only an output with no SA at all may turn into "not strongSwan's output"
                assert not full.ike_sas, f"{path.name} line {i + 1} {name}: raised"
                continue
            have = {}
            for ike in got.ike_sas:
                have.setdefault(_key(ike), []).append(ike)
            for key, ike in want.items():
                if key == owners[i]:
                    continue  # the damaged SA itself
                assert key in have, f"{path.name} line {i + 1} {name}: lost {key}"
                cands = [h for h in have[key] if h.to_fields() == ike.to_fields()]
                assert cands, f"{path.name} line {i + 1} {name}: {key} changed"
                kids = set(cands[0].child_sas)
                assert set(ike.child_sas) <= kids, (
                    f"{path.name} line {i + 1} {name}: {key} lost a child"
                )
            checked += 1
    return checked


@pytest.mark.parametrize("path", _files("statusall"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_statusall_one_damaged_line_costs_only_its_own_sa(path):
    _check(parse_statusall, _owner_statusall, path)


@pytest.mark.parametrize("path", _files("swanctl"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_swanctl_one_damaged_line_costs_only_its_own_sa(path):
    _check(parse_list_sas, _owner_swanctl, path)


def test_the_damage_corpus_is_real_and_large_enough():
    assert len(_files("statusall")) + len(_files("swanctl")) >= 30
    assert sum(1 for p in _files("statusall") + _files("swanctl") if "public" in p.parts) >= 20


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("public/logs/*.log")), ids=lambda p: p.name)
def test_one_damaged_log_line_changes_no_other_event(path):
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    full = [e.to_dict() for e in parse_log("\n".join(lines), year=2024)]
    for i, line in enumerate(lines):
        for mutate in MUTATIONS.values():
            new = mutate(line)
            if new is None or not new.strip():
                continue
            got = parse_log("\n".join(lines[:i] + [new] + lines[i + 1 :]), year=2024)
            assert [e.to_dict() for e in got[:i] + got[i + 1 :]] == full[:i] + full[i + 1 :]
