#!/usr/bin/env python3
"""Write ``<sample>.expected.json`` from the hand-read tuples in ``handread.py``.

It imports nothing from the agent: the expected files come from what was read by eye,
so the golden test compares the parsers against an independent reading.
Run from anywhere: ``python3 tests/golden/public/make_expected.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import handread as H

HERE = Path(__file__).resolve().parent
IKE_KEYS = (
    "name",
    "uniqueid",
    "state",
    "version",
    "local_host",
    "local_id",
    "remote_host",
    "remote_id",
    "established_seconds",
)
CHILD_KEYS = (
    "name",
    "uniqueid",
    "state",
    "mode",
    "bytes_in",
    "bytes_out",
    "packets_in",
    "packets_out",
    "local_ts",
    "remote_ts",
)
# the order of SaSnapshot.to_dict()
IKE_ORDER = (
    "name",
    "uniqueid",
    "state",
    "version",
    "local_host",
    "remote_host",
    "local_id",
    "remote_id",
    "established_seconds",
    "child_sas",
)


def ike_dict(t: tuple) -> dict:
    d = dict(zip(IKE_KEYS, t[:9], strict=True))
    d["child_sas"] = [dict(zip(CHILD_KEYS, c, strict=True)) for c in t[9]]
    return {k: d[k] for k in IKE_ORDER}


def main() -> None:
    for sub, table in (("statusall", H.STATUSALL), ("swanctl", H.SWANCTL)):
        for name, ikes in table.items():
            out = HERE / sub / f"{name}.expected.json"
            doc = {"ike_sas": [ike_dict(t) for t in ikes]}
            out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    for name, (year, events) in H.LOGS.items():
        keys = ("time", "conn", "kind", "message")
        doc = {"year": year, "events": [dict(zip(keys, e, strict=True)) for e in events]}
        out = HERE / "logs" / f"{name}.expected.json"
        out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
