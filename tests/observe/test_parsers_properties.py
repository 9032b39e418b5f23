"""Property tests: for any input every SA parser gives a snapshot or ParseError, nothing
else; the log classifier is total. Inputs: random text and mutations of real samples."""

from __future__ import annotations

import json
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s2s_agent.core.errors import ParseError
from s2s_agent.core.model import LOG_KINDS, LogEvent, SaSnapshot
from s2s_agent.observe.parsers import (
    classify_line,
    parse_list_sas,
    parse_log,
    parse_statusall,
    parse_vici_sas,
)

SAMPLES = Path(__file__).resolve().parents[1] / "golden" / "samples"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _texts(sub: str) -> list[str]:
    return [
        p.read_bytes().decode("utf-8", errors="replace")
        for p in sorted((SAMPLES / sub).glob("*"))
        if p.is_file() and not p.name.endswith(".expected.json") and not p.name.startswith("broken")
    ]


STATUSALL = _texts("statusall")
PUBLIC = SAMPLES.parent / "public"
PUBLIC_STATUSALL = [
    p.read_text(encoding="utf-8") for p in sorted((PUBLIC / "statusall").glob("*.txt"))
]
PUBLIC_SWANCTL = [p.read_text(encoding="utf-8") for p in sorted((PUBLIC / "swanctl").glob("*.txt"))]
SWANCTL = [t for t in _texts("swanctl") if t.strip()]
VICI = [json.loads(t) for t in _texts("vici")]
LOG_LINES = [ln for t in _texts("logs") for ln in t.split("\n") if ln.strip()][:2000]

NASTY = st.sampled_from(
    [
        "\x00",
        "\xff",
        "\ufffd",
        "\u2028",
        "\x85",
        "\r",
        "\t",
        "[",
        "]",
        "{",
        "}",
        ":",
        ",",
        "===",
        "'",
        "|",
        "<",
        ">",
        " ",
        "9" * 30,
        "bytes_i",
        "(null)",
        "#",
    ]
)


def _ok_or_parse_error(fn, data) -> SaSnapshot | None:
    try:
        out = fn(data)
    except ParseError:
        return None
    assert isinstance(out, SaSnapshot)
    json.dumps(out.to_dict())  # the result is always serialisable
    return out


@st.composite
def mutated(draw, texts: list[str]) -> str:
    """A real sample with a few random line/char mutations."""
    lines = draw(st.sampled_from(texts)).split("\n")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["del", "dup", "swap", "flip", "inject", "truncate"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "del":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op in ("flip", "inject"):
            ln = lines[i]
            k = draw(st.integers(0, len(ln)))
            ins = draw(NASTY) if op == "inject" else draw(st.characters())
            lines[i] = ln[:k] + ins + ln[k + (op == "flip") :]
        else:
            text = "\n".join(lines)
            return text[: draw(st.integers(0, len(text)))]
    return "\n".join(lines)


@SETTINGS
@given(st.text())
def test_statusall_random_text(text):
    _ok_or_parse_error(parse_statusall, text)


@SETTINGS
@given(mutated(STATUSALL))
def test_statusall_mutated_samples(text):
    _ok_or_parse_error(parse_statusall, text)


@SETTINGS
@given(st.text())
def test_swanctl_random_text(text):
    _ok_or_parse_error(parse_list_sas, text)


@SETTINGS
@given(mutated(SWANCTL))
def test_swanctl_mutated_samples(text):
    _ok_or_parse_error(parse_list_sas, text)


def _shuffle_block(text: str, seed: int, head: str) -> str:
    """Shuffle the lines after the first line that starts an SA block."""
    lines = text.rstrip("\n").split("\n")
    starts = [i for i, ln in enumerate(lines) if ln.startswith(head)]
    if not starts:
        return text
    s = starts[0]
    e = starts[1] if len(starts) > 1 else len(lines)
    block = lines[s:e]
    random.Random(seed).shuffle(block)
    return "\n".join(lines[:s] + block + lines[e:]) + "\n"


@SETTINGS
@given(st.sampled_from(SWANCTL), st.integers(0, 2**32))
def test_swanctl_shuffled_block_never_crashes(text, seed):
    _ok_or_parse_error(parse_list_sas, _shuffle_block(text, seed, ""))


@SETTINGS
@given(st.sampled_from(STATUSALL), st.integers(0, 2**32))
def test_statusall_shuffled_section_never_crashes(text, seed):
    _ok_or_parse_error(parse_statusall, _shuffle_block(text, seed, "Security Associations"))


def test_parsers_do_not_depend_on_a_trailing_newline_for_complete_lines():
    # the last line is complete, only its newline is missing: nothing may be lost
    checked = 0
    for fn, texts in (
        (parse_statusall, STATUSALL + PUBLIC_STATUSALL),
        (parse_list_sas, SWANCTL + PUBLIC_SWANCTL),
    ):
        for text in texts:
            full = fn(text)
            cut = fn(text.rstrip("\n"))
            assert cut.to_dict() == full.to_dict() and cut.warnings == full.warnings
            checked += bool(full.ike_sas)
    assert checked >= 20


# ---- vici: arbitrary nested data and mutated real replies ---------------------------------

SCALARS = st.one_of(
    st.none(), st.binary(max_size=30), st.text(max_size=30), st.integers(), st.floats()
)
NESTED = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@SETTINGS
@given(NESTED)
def test_vici_arbitrary_data(data):
    _ok_or_parse_error(parse_vici_sas, data)


@st.composite
def mutated_vici(draw):
    replies = json.loads(json.dumps(draw(st.sampled_from(VICI))))
    ike = next(iter(replies[0].values()))
    targets = [ike] + list(ike.get("child-sas", {}).values())
    for _ in range(draw(st.integers(1, 3))):
        d = draw(st.sampled_from(targets))
        if not d:
            continue
        key = draw(st.sampled_from(sorted(d)))
        if draw(st.booleans()):
            del d[key]
        else:
            d[key] = draw(NESTED)
    return replies


@SETTINGS
@given(mutated_vici())
def test_vici_mutated_samples(replies):
    _ok_or_parse_error(parse_vici_sas, replies)


# ---- charon log: total classifier ---------------------------------------------------------


def _check_event(ev):
    assert isinstance(ev, LogEvent)
    assert ev.kind in LOG_KINDS
    assert ev.time is None or ev.time[:2] in ("19", "20") or ev.time[:1].isdigit()
    json.dumps(ev.to_dict())


@SETTINGS
@given(st.text())
def test_classify_random_text(line):
    _check_event(classify_line(line))


@SETTINGS
@given(mutated(LOG_LINES), st.integers(1, 9999))
def test_classify_mutated_real_lines(line, year):
    for ev in parse_log(line, year=year):
        _check_event(ev)


@SETTINGS
@given(st.binary(max_size=400))
def test_classify_decoded_binary(raw):
    _check_event(classify_line(raw.decode("utf-8", errors="replace")))
    _check_event(classify_line(raw))


@SETTINGS
@given(st.sampled_from(LOG_LINES), st.sampled_from(["", "\r", "\n", "  "]))
def test_classification_ignores_line_endings(line, end):
    a, b = classify_line(line, year=2026), classify_line(line + end, year=2026)
    assert (a.kind, a.conn, a.time) == (b.kind, b.conn, b.time)
