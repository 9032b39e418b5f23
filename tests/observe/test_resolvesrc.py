"""resolve-src.php's answers (saved samples, tests/golden/samples/resolve-src/) -> the parser
and the ``pfsense`` gateway-group resolver; bad or odd answers give a clear error, never a
crash."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s2s_agent.core import osio
from s2s_agent.core.errors import CommandError, ParseError
from s2s_agent.observe.gwgroup import HELPER, PHP, pfsense_group_ip
from s2s_agent.observe.parsers.resolvesrc import parse_resolve_src

SAMPLES = Path(__file__).resolve().parents[1] / "golden" / "samples" / "resolve-src"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_failover_sample():
    got = parse_resolve_src(sample("failover-wan2.out"), 0, (1, 4, 2))
    assert sorted(got) == [1, 2, 4]
    one = got[1]
    assert (one.kind, one.group, one.gateway, one.tier, one.realif, one.address) == (
        "gateway_group",
        "WAN_FAILOVER",
        "WAN2GW",
        2,
        "igb1",
        "100.64.0.2",
    )
    assert (got[2].kind, got[2].group, got[2].tier, got[2].address) == (
        "interface",
        None,
        None,
        "198.51.100.2",
    )


def test_carp_and_vip_sample():
    got = parse_resolve_src(sample("carp-vip.out"), 0, (3, 5))
    assert (got[3].kind, got[3].carp, got[3].vip) == ("vip", "BACKUP", "_vip5f1e2d3c4b5a6")
    assert (got[5].kind, got[5].carp) == ("gateway_group", "MASTER")


def test_notice_before_the_json_line_is_skipped():
    assert parse_resolve_src(sample("php-notice.out"), 0, (1,))[1].address == "198.51.100.2"


def test_unresolvable_keeps_the_error_text():
    got = parse_resolve_src(sample("unresolvable.out"), 0, (1,))[1]
    assert got.address is None and got.error == "pppoe0 has no IPv4 address"


@pytest.mark.parametrize(
    ("name", "rc", "match"),
    [
        ("error-exit1.out", 1, r"could not resolve \(exit 1\): phase 1 7 does not exist"),
        ("usage-exit2.out", 2, r"refused its arguments \(exit 2\): usage"),
    ],
)
def test_error_answers(name, rc, match):
    with pytest.raises(ParseError, match=match):
        parse_resolve_src(sample(name), rc)


GOOD = json.loads(sample("tier1.out"))["phase1"][0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "no JSON object"),
        ("Fatal error: Uncaught Error", "no JSON object"),
        ("{not json", "not JSON"),
        ('{"version": 2, "phase1": []}', "unknown version 2"),
        ('{"version": 1}', "phase1 must be a list"),
        ('{"version": 1, "phase1": [7]}', r"phase1\[0\] is not an object"),
        (json.dumps({"version": 1, "phase1": [{**GOOD, "ikeid": "1"}]}), "ikeid must be"),
        (json.dumps({"version": 1, "phase1": [{**GOOD, "ikeid": True}]}), "ikeid must be"),
        (json.dumps({"version": 1, "phase1": [{**GOOD, "kind": "ppp"}]}), "kind must be"),
        (json.dumps({"version": 1, "phase1": [{**GOOD, "address": "1.2.3"}]}), "IPv4 literal"),
        (json.dumps({"version": 1, "phase1": [{**GOOD, "address": None}]}), "neither"),
        (json.dumps({"version": 1, "phase1": [{**GOOD, "tier": "2"}]}), "tier must be"),
        (json.dumps({"version": 1, "phase1": [{**GOOD, "carp": "master"}]}), "carp must be"),
        (json.dumps({"version": 1, "phase1": [{**GOOD, "realif": 5}]}), "realif must be"),
        (json.dumps({"version": 1, "phase1": [{**GOOD, "interface": None}]}), "interface must"),
        (json.dumps({"version": 1, "phase1": [GOOD]}) + "\n", None),
    ],
)
def test_malformed_answers_are_parse_errors(text, match):
    if match is None:
        assert parse_resolve_src(text, 0, (1,))[1].tier == 1
        return
    with pytest.raises(ParseError, match=match):
        parse_resolve_src(text, 0, (1,))


def test_entry_errors_of_the_real_helper():
    """resolve-src.php answers an ikeid not in config.xml (or a phase 1 pfSense failed
    resolving) with kind/interface null and an error; an IPv6 phase 1 is that entry's
    error, not a broken answer."""
    unknown = {**dict.fromkeys(GOOD, None), "ikeid": 7, "error": "no IPsec phase 1 with ikeid 7"}
    v6 = {**GOOD, "ikeid": 3, "kind": "interface", "address": "2001:db8::1"}
    got = parse_resolve_src(json.dumps({"version": 1, "phase1": [unknown, v6, GOOD]}), 0, (7, 3))
    assert (got[7].kind, got[7].interface, got[7].address) == ("", "", None)
    assert got[7].error == "no IPsec phase 1 with ikeid 7"
    assert got[3].address is None and "IPv6 2001:db8::1" in got[3].error
    assert got[1].address == "198.51.100.2"
    ip, why, _ = pfsense_group_ip(
        "G",
        [7],
        run=lambda argv, **kw: osio.Result(
            list(argv), 0, json.dumps({"version": 1, "phase1": [unknown]}), ""
        ),
    )
    assert ip is None and "no IPsec phase 1 with ikeid 7" in why
    with pytest.raises(ParseError, match="kind must be"):  # null kind WITH an address: broken
        parse_resolve_src(json.dumps({"version": 1, "phase1": [{**GOOD, "kind": None}]}), 0)


def test_a_requested_phase1_missing_from_the_answer():
    with pytest.raises(ParseError, match="no answer for phase 1 ikeid 9"):
        parse_resolve_src(sample("tier1.out"), 0, (1, 9))


@given(st.text(max_size=300))
def test_any_text_is_an_answer_or_a_parse_error(text):
    with contextlib.suppress(ParseError):
        parse_resolve_src(text, 0)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=12,
    )
)
def test_any_json_is_an_answer_or_a_parse_error(doc):
    with contextlib.suppress(ParseError):
        parse_resolve_src(json.dumps({"version": 1, "phase1": [doc]}), 0)


# ---- the pfsense resolver: the helper run with a deadline --------------------------------
def replay(name: str, rc: int = 0, seen: list | None = None):
    def run(argv, *, timeout, ok_codes=(0,)):
        if seen is not None:
            seen.append((list(argv), timeout, tuple(ok_codes)))
        return osio.Result(list(argv), rc, sample(name), "")

    return run


def test_pfsense_resolver_runs_the_helper_with_the_tunnels_ikeids_and_a_deadline():
    seen: list = []
    ip, why, via = pfsense_group_ip(
        "WAN_FAILOVER", [1, 4], allow_private=True, run=replay("failover-wan2.out", seen=seen)
    )
    assert (ip, why) == ("100.64.0.2", "")
    assert seen == [([PHP, HELPER, "1", "4"], 10.0, (0, 1, 2))]
    assert (via["gateway"], via["tier"], via["interface"], via["resolver"]) == (
        "WAN2GW",
        2,
        "igb1",
        "pfsense",
    )


def test_pfsense_resolver_refuses_a_private_address_unless_allowed():
    ip, why, _ = pfsense_group_ip("WAN_FAILOVER", [1], run=replay("failover-wan2.out"))
    assert ip is None and "100.64.0.2" in why and "WAN_FAILOVER" in why


def test_pfsense_resolver_errors_are_reasons_not_crashes():
    ip, why, via = pfsense_group_ip("G", [1], run=replay("unresolvable.out"))
    assert ip is None and "pppoe0 has no IPv4 address" in why and via["gateway"] == "WAN1GW"
    ip, why, via = pfsense_group_ip("G", [7], run=replay("error-exit1.out", rc=1))
    assert ip is None and "phase 1 7 does not exist" in why and via is None

    def hangs(argv, *, timeout, ok_codes=(0,)):
        raise CommandError(argv, f"timed out after {timeout:g}s", timed_out=True)

    ip, why, _ = pfsense_group_ip("G", [1], run=hangs)
    assert ip is None and "timed out after 10s" in why


def test_pfsense_resolver_phase1s_that_disagree_give_no_address():
    doc = json.loads(sample("failover-wan2.out"))
    text = json.dumps(doc)

    def run(argv, *, timeout, ok_codes=(0,)):
        return osio.Result(list(argv), 0, text, "")

    ip, why, _ = pfsense_group_ip("WAN_FAILOVER", [1, 2], allow_private=True, run=run)
    assert ip is None and "different addresses" in why


def test_the_helper_really_is_killed_at_its_deadline(tmp_path):
    slow = tmp_path / "php"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    ip, why, _ = pfsense_group_ip(
        "G", [1], run=lambda argv, **kw: osio.run([str(slow), *argv[1:]], **{**kw, "timeout": 0.5})
    )
    assert ip is None and "timed out" in why
