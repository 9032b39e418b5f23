"""Small helpers shared by the SA parsers (pure, no I/O).

Everything here raises only :class:`~s2s_agent.errors.ParseError`.
"""

from __future__ import annotations

import re

from ..errors import ParseError
from ..model import ChildSa, IkeSa, SaSnapshot

MAX_INT_DIGITS = 20
"""Counters are 64-bit: more digits than this is garbage (and ``int()`` of a few thousand
digits raises ``ValueError`` in Python ≥ 3.11, which must never escape a parser)."""

_TS_SPLIT = re.compile(r"[,\s]+", re.ASCII)


class LineError(Exception):
    """Internal: one line could not be parsed (turned into ParseError by the caller)."""


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


def run_lines(source: str, text: object, handle, *, allow_empty: bool) -> None:
    """Feed every non-blank line to ``handle(lineno, line)``.

    A :class:`LineError` becomes a ParseError naming the line, except on a last line that
    has no newline when an earlier line parsed: that is a truncated read, and the partial
    line is skipped.
    """
    text = as_text(text, source)
    lines, complete = split_lines(text)
    if not allow_empty and not any(ln.strip() for ln in lines):
        raise ParseError(source, "empty output")
    last = len(lines)
    parsed = 0
    for n, line in enumerate(lines, 1):
        if not line.strip(" \t"):
            continue
        try:
            handle(n, line)
        except LineError as exc:
            # a cut-off read, but only after something was understood: a single line of
            # garbage without newline must not pass as "no SAs"
            if n == last and not complete and parsed:
                return
            raise ParseError(source, str(exc), line=n) from None
        parsed += 1


def new_child(name: str, uid: int | None, state: str | None, mode: str | None) -> dict:
    """A CHILD SA under construction (counters and selectors filled in by later lines)."""
    return {"name": name, "uniqueid": uid, "state": state, "mode": mode,
            "bytes_in": None, "bytes_out": None, "packets_in": None, "packets_out": None,
            "local_ts": [], "remote_ts": []}  # fmt: skip


def build_snapshot(ikes, children_of) -> SaSnapshot:
    """Freeze IKE SA dicts (model field names, plus private keys starting with ``_`` or
    the children container) into a :class:`SaSnapshot`; ``children_of(ike)`` lists the
    CHILD dicts of one IKE SA."""
    fields = IkeSa.__dataclass_fields__.keys() - {"child_sas"}
    out = []
    for ike in ikes:
        kids = tuple(
            ChildSa(**{**c, "local_ts": tuple(c["local_ts"]), "remote_ts": tuple(c["remote_ts"])})
            for c in children_of(ike)
        )
        out.append(IkeSa(**{k: ike[k] for k in fields}, child_sas=kids))
    return SaSnapshot(tuple(out))
