"""Small helpers shared by the SA parsers (pure, no I/O).

Everything here raises only :class:`~s2s_agent.core.errors.ParseError`.
"""

from __future__ import annotations

import re

from ...core.errors import ParseError
from ...core.model import ChildSa, IkeSa, SaSnapshot

MAX_INT_DIGITS = 20
"""Counters are 64-bit: more digits than this is garbage (and ``int()`` of a few thousand
digits raises ``ValueError`` in Python ≥ 3.11, which must never escape a parser)."""

_TS_SPLIT = re.compile(r"[,\s]+", re.ASCII)


class LineError(Exception):
    """Internal: one line could not be parsed (the builder records it as a warning).

    ``unattributed``: the line names no SA it can be tied to (it may have been any SA's
    first line)."""

    def __init__(self, message: str, *, unattributed: bool = False) -> None:
        super().__init__(message)
        self.unattributed = unattributed


def as_text(data: object, source: str) -> str:
    """Accept ``str`` (or ``bytes``, decoded leniently); anything else is a ParseError."""
    if isinstance(data, str):
        return data
    if isinstance(data, bytes | bytearray):
        return bytes(data).decode("utf-8", errors="replace")
    raise ParseError(source, f"expected text, got {type(data).__name__}")


def split_lines(text: str) -> tuple[list[str], bool]:
    """Split on ``\\n`` only (not on the exotic separators ``str.splitlines`` knows).

    Returns the lines (trailing ``\\r`` removed) and whether the last one is complete,
    i.e. the text ended with a newline. A final empty piece is dropped.
    """
    lines = text.split("\n")
    complete = True
    if lines and lines[-1] == "":
        lines.pop()
    else:
        complete = False
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines], complete


def to_int(value: str | None, what: str) -> int | None:
    """``None``/``(null)``/empty → None; ASCII digits → int; anything else → LineError."""
    if value is None:
        return None
    value = value.strip()
    if value in ("", "(null)"):
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_INT_DIGITS:
        raise LineError(f"{what} is not a number: {value[:40]!r}")
    return int(value)


def null_str(value: str | None) -> str | None:
    """``(null)`` (what glibc prints for a missing vici value) and empty → None."""
    if value is None or value in ("", "(null)"):
        return None
    return value


def split_ts(text: str) -> tuple[str, ...]:
    """Traffic selectors as printed by strongSwan: separated by spaces (5.9) or commas."""
    text = text.strip()
    if not text or text == "(null)":
        return ()
    return tuple(t for t in _TS_SPLIT.split(text) if t)


MAX_LINE = 65536
"""Longer lines are not strongSwan's (its longest, a CHILD SA with many traffic
selectors, are a few KiB): they are skipped unread, which also bounds the work per line."""

MAX_WARNINGS = 50
"""Warnings kept per snapshot; the rest are counted in one last line."""


class Damage:
    """What a parser skipped: warnings, and whether some of it belongs to no known SA."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.dropped = 0
        self.unattributed = False

    def add(self, n: int, why: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(f"line {n}: {why}")
        else:
            self.dropped += 1

    def final(self) -> tuple[str, ...]:
        extra = [f"... and {self.dropped} more skipped line(s)"] if self.dropped else []
        return (*self.warnings, *extra)


def run_lines(source: str, text: object, handle, skip) -> int:
    """Feed every non-blank line to ``handle(lineno, line)``; a :class:`LineError` from it
    goes to ``skip(lineno, line, why, unattributed)`` (the builder decides which SA the damage belongs
    to) and the next line is read. Returns the number of non-blank lines."""
    text = as_text(text, source)
    lines, complete = split_lines(text)
    last = len(lines)
    seen = 0
    for n, line in enumerate(lines, 1):
        if not line.strip(" \t"):
            continue
        seen += 1
        if len(line) > MAX_LINE:
            skip(n, line[:200], f"line of {len(line)} characters (over {MAX_LINE}) not read", False)
            continue
        try:
            handle(n, line)
        except LineError as exc:
            why = str(exc)
            if n == last and not complete:
                why = f"cut off (no newline at the end): {why}"
            skip(n, line, why, exc.unattributed)
    return seen


def looks_binary(text: str) -> bool:
    """Mostly control characters or undecodable bytes: not a tool's text output."""
    sample = text[:4096]
    if not sample:
        return False
    bad = sum(1 for ch in sample if ch == "\ufffd" or (ch < " " and ch not in "\t\r\n"))
    return bad * 10 > len(sample)


def new_child(name: str, uid: int | None, state: str | None, mode: str | None) -> dict:
    """A CHILD SA under construction (counters and selectors filled in by later lines)."""
    return {
        "name": name,
        "uniqueid": uid,
        "state": state,
        "mode": mode,
        "bytes_in": None,
        "bytes_out": None,
        "packets_in": None,
        "packets_out": None,
        "local_ts": [],
        "remote_ts": [],
    }


def build_snapshot(ikes, children_of, damage: Damage | None = None) -> SaSnapshot:
    """Freeze IKE SA dicts (model field names, ``damaged``, plus private keys or the
    children container) into a :class:`SaSnapshot`; ``children_of(ike)`` lists the
    CHILD dicts of one IKE SA."""
    fields = IkeSa.__dataclass_fields__.keys() - {"child_sas"}
    child_fields = ChildSa.__dataclass_fields__.keys() - {"local_ts", "remote_ts"}
    out = []
    for ike in ikes:
        kids = tuple(
            ChildSa(
                **{k: c[k] for k in child_fields},
                local_ts=tuple(c["local_ts"]),
                remote_ts=tuple(c["remote_ts"]),
            )
            for c in children_of(ike)
        )
        vals = {k: ike[k] for k in fields if k != "damaged"}
        out.append(IkeSa(**vals, child_sas=kids, damaged=bool(ike.get("damaged"))))
    if damage is None:
        return SaSnapshot(tuple(out))
    return SaSnapshot(tuple(out), damage.final(), damage.unattributed)
