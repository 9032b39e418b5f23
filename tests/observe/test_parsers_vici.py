"""VICI list-sas parser (the dicts the ``vici`` package yields)."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from s2s_agent.core.errors import ParseError
from s2s_agent.observe.parsers import parse_vici_sas


def reply(**over):
    child = OrderedDict(
        name=b"azure-net",
        uniqueid=b"1",
        state=b"INSTALLED",
        mode=b"TUNNEL",
        **{
            "bytes-in": b"504",
            "packets-in": b"6",
            "bytes-out": b"252",
            "packets-out": b"3",
            "local-ts": [b"192.168.1.0/24", b"192.168.2.0/24"],
            "remote-ts": [b"10.1.10.0/24"],
        },
    )
    ike = OrderedDict(
        uniqueid=b"1",
        version=b"2",
        state=b"ESTABLISHED",
        established=b"3",
        **{
            "local-host": b"198.51.100.2",
            "remote-host": b"203.0.113.1",
            "local-id": b"198.51.100.2",
            "remote-id": b"203.0.113.1",
            "child-sas": OrderedDict([("azure-net-1", child)]),
        },
    )
    ike.update(over)
    return OrderedDict(azure=ike)


def test_bytes_values_are_decoded_and_converted():
    ike = parse_vici_sas([reply()]).ike_sas[0]
    assert (ike.name, ike.uniqueid, ike.version, ike.state, ike.established_seconds) == (
        "azure",
        1,
        2,
        "ESTABLISHED",
        3,
    )
    c = ike.child_sas[0]
    assert (c.name, c.bytes_in, c.packets_in, c.bytes_out, c.packets_out) == (
        "azure-net",
        504,
        6,
        252,
        3,
    )
    assert c.local_ts == ("192.168.1.0/24", "192.168.2.0/24")


def test_a_generator_and_a_single_mapping_are_accepted():
    want = parse_vici_sas([reply()])
    assert parse_vici_sas(r for r in [reply()]) == want
    assert parse_vici_sas(reply()) == want
    assert parse_vici_sas([]).ike_sas == ()


def test_child_name_falls_back_to_the_section_key_without_the_id():
    r = reply()
    del r["azure"]["child-sas"]["azure-net-1"]["name"]
    assert parse_vici_sas([r]).ike_sas[0].child_sas[0].name == "azure-net"


def test_connecting_sa_without_established_or_children():
    r = reply(state=b"CONNECTING")
    del r["azure"]["established"]
    r["azure"]["child-sas"] = OrderedDict()
    ike = parse_vici_sas([r]).ike_sas[0]
    assert (ike.state, ike.established_seconds, ike.child_sas) == ("CONNECTING", None, ())


def test_undecodable_bytes_are_replaced_not_raised():
    r = reply(**{"remote-id": b"\xff\xfepeer"})
    assert parse_vici_sas([r]).ike_sas[0].remote_id == "\ufffd\ufffdpeer"


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "azure",
        b"azure",
        42,
        [None],
        [{"azure": "not a section"}],
        [{"azure": {"uniqueid": b"x1"}}],
        [{"azure": {"uniqueid": b"9" * 5000}}],
        [{"azure": {"child-sas": [b"x"]}}],
        [{"azure": {"child-sas": {"c-1": {"bytes-in": b"-5"}}}}],
        [{"azure": {"state": 3.5}}],
        [{"azure": {"child-sas": {"c-1": {"local-ts": {"a": b"b"}}}}}],
        [{1: {}}],
        [{"": {}}],
    ],
)
def test_impossible_input_raises_parse_error(bad):
    with pytest.raises(ParseError):
        parse_vici_sas(bad)
