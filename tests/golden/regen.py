#!/usr/bin/env python3
"""Regenerate (or check) the expected JSON of the parser golden tests.

Raw inputs and where their expected JSON lives:

* ``tests/golden/samples/{statusall,swanctl,vici,logs}/NAME.EXT``
  -> ``tests/golden/samples/.../NAME.expected.json`` (next to the input)
* ``tests/golden/lab/<scenario>/{swanctl-list-sas.txt,ipsec-statusall.txt,vici-list-sas.json}``
  and ``tests/golden/lab/logs/*.log``
  -> ``tests/golden/expected/lab/<same relative path, NAME.expected.json>``

Inputs that must be rejected get ``{"error": "ParseError", "message": ...}``. Logs are
parsed with ``year=2026`` so BSD timestamps are reproducible.

Usage (from the repository root)::

    .venv/bin/python tests/golden/regen.py           # write, print what changed
    .venv/bin/python tests/golden/regen.py --check   # exit 1 if anything would change

Review every change it reports (``git diff tests/golden``) before committing: the
expected files are the parsers' contract, not a snapshot to accept blindly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent
ROOT = GOLDEN.parent.parent
sys.path.insert(0, str(ROOT / "agent"))

from s2s_agent.core.errors import ParseError  # noqa: E402
from s2s_agent.observe.parsers import parse_list_sas, parse_log, parse_statusall, parse_vici_sas  # noqa: E402

LOG_YEAR = 2026
SAMPLE_KINDS = {"statusall": "statusall", "swanctl": "swanctl", "vici": "vici", "logs": "log"}
LAB_FILES = {
    "ipsec-statusall.txt": "statusall",
    "swanctl-list-sas.txt": "swanctl",
    "vici-list-sas.json": "vici",
}


def cases() -> Iterator[tuple[Path, Path, str]]:
    """Every (raw input, expected JSON, parser kind), in a stable order."""
    samples = GOLDEN / "samples"
    for sub, kind in SAMPLE_KINDS.items():
        for raw in sorted((samples / sub).glob("*")):
            if raw.is_file() and not raw.name.endswith(".expected.json"):
                yield raw, raw.with_name(raw.stem + ".expected.json"), kind
    lab = GOLDEN / "lab"
    if not lab.is_dir():
        return
    expected = GOLDEN / "expected" / "lab"
    for raw in sorted(lab.rglob("*")):
        if not raw.is_file():
            continue
        rel = raw.relative_to(lab)
        kind = LAB_FILES.get(raw.name)
        if kind is None and rel.parts[0] == "logs" and raw.suffix == ".log":
            kind = "log"
        if kind is not None:
            yield raw, expected / rel.with_name(rel.stem + ".expected.json"), kind


def render(kind: str, raw: Path) -> object:
    """What the parser makes of ``raw``: a JSON-able object (or the ParseError)."""
    text = raw.read_bytes().decode("utf-8", errors="replace")
    try:
        if kind == "statusall":
            return parse_statusall(text).to_dict(warnings=True)
        if kind == "swanctl":
            return parse_list_sas(text).to_dict(warnings=True)
        if kind == "vici":
            return parse_vici_sas(json.loads(text)).to_dict()
        return [e.to_dict() for e in parse_log(text, year=LOG_YEAR)]
    except ParseError as exc:
        return {"error": "ParseError", "message": str(exc)}


def dumps(obj: object) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only report, exit 1 on changes")
    args = ap.parse_args(argv)
    changed = 0
    for raw, exp, kind in cases():
        new = dumps(render(kind, raw))
        old = exp.read_text(encoding="utf-8") if exp.exists() else None
        if new == old:
            continue
        changed += 1
        print(f"{'new' if old is None else 'changed'}: {exp.relative_to(ROOT)} ({kind})")
        if not args.check:
            exp.parent.mkdir(parents=True, exist_ok=True)
            exp.write_text(new, encoding="utf-8")
    print(f"{changed} expected file(s) {'differ' if args.check else 'written'}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
