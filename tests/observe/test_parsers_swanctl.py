"""swanctl --list-sas text parser."""

from __future__ import annotations

import pytest

from s2s_agent.core.errors import ParseError
from s2s_agent.observe.parsers import parse_list_sas

ONE = """\
azure: #1, ESTABLISHED, IKEv2, ed52ae21c0df697b_i* 7706634a5ae4863d_r
  local  '198.51.100.2' @ 198.51.100.2[4500]
  remote '203.0.113.1' @ 203.0.113.1[4500]
  AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_1024
  established 27s ago, rekeying in 27582s
  azure-net: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-256/HMAC_SHA2_256_128
    installed 27s ago, rekeying in 3453s, expires in 3960s
    in  084bbfae,     84 bytes,     1 packets,     0s ago
    out 7f93c6ba,    168 bytes,     2 packets
    local  192.168.1.0/24 192.168.2.0/24
    remote 10.1.10.0/24
"""


def test_established_sa_fields():
    ike = parse_list_sas(ONE).ike_sas[0]
    assert (ike.name, ike.uniqueid, ike.state, ike.version) == ("azure", 1, "ESTABLISHED", 2)
    assert (ike.local_host, ike.local_id, ike.remote_host, ike.remote_id) == (
        "198.51.100.2",
        "198.51.100.2",
        "203.0.113.1",
        "203.0.113.1",
    )
    assert ike.established_seconds == 27
    (c,) = ike.child_sas
    assert (c.name, c.uniqueid, c.state, c.mode) == ("azure-net", 1, "INSTALLED", "TUNNEL")
    assert (c.bytes_in, c.packets_in, c.bytes_out, c.packets_out) == (84, 1, 168, 2)
    assert c.local_ts == ("192.168.1.0/24", "192.168.2.0/24")
    assert c.remote_ts == ("10.1.10.0/24",)


def test_empty_output_means_no_sas():
    assert parse_list_sas("").ike_sas == ()
    assert parse_list_sas("\n  \n").ike_sas == ()


def test_connecting_sa_has_any_ids_and_no_age():
    text = (
        "azure: #2, CONNECTING, IKEv2, 52f5436deb99264e_i* 0000000000000000_r\n"
        "  local  '%any' @ 198.51.100.2[500]\n"
        "  remote '%any' @ 203.0.113.1[500]\n"
        "  active:  IKE_VENDOR IKE_INIT IKE_NATD\n"
    )
    ike = parse_list_sas(text).ike_sas[0]
    assert (ike.state, ike.local_id, ike.remote_id, ike.established_seconds) == (
        "CONNECTING",
        "%any",
        "%any",
        None,
    )
    assert ike.child_sas == ()


def test_marks_ipv6_and_eap_ids_are_parsed():
    text = (
        "v6: #3, ESTABLISHED, IKEv2, 1_i 2_r*\n"
        "  local  'C=US, O=Ex, CN=fw' @ 2001:db8::2[4500] [10.3.0.1]\n"
        "  remote 'peer' @ 2001:db8::1[4500] EAP: 'user' [10.3.0.2]\n"
        "  v6-c: #9, reqid 9, INSTALLED, TRANSPORT, ESP:AES_GCM_16-256\n"
        "    in  c0ffee01 (0x01000000/0xffffffff|0x5), 1284960 bytes, 15297 packets,     1s ago\n"
        "    out 0badf00d (-|0x5),   8836 bytes,    13 packets,     2s ago\n"
    )
    ike = parse_list_sas(text).ike_sas[0]
    assert (ike.local_id, ike.local_host, ike.remote_host) == (
        "C=US, O=Ex, CN=fw",
        "2001:db8::2",
        "2001:db8::1",
    )
    c = ike.child_sas[0]
    assert (c.mode, c.bytes_in, c.packets_in, c.bytes_out) == ("TRANSPORT", 1284960, 15297, 8836)


def test_null_values_become_none():
    text = (
        "azure: #4, DELETING, IKEv2, 1_i* 2_r\n"
        "  azure-net: #7, reqid 1, CREATED, TUNNEL, ESP:\n"
        "    in  (null), (null) bytes, (null) packets\n"
        "    local  (null)\n"
    )
    c = parse_list_sas(text).ike_sas[0].child_sas[0]
    assert (c.bytes_in, c.packets_in, c.local_ts) == (None, None, ())


def test_same_names_and_several_children_in_order():
    text = (
        "con1: #5, ESTABLISHED, IKEv2, 1_i* 2_r\n"
        "  con1: #8, reqid 1, REKEYED, TUNNEL, ESP:AES_CBC-256\n"
        "  con1: #9, reqid 1, INSTALLED, TUNNEL, ESP:AES_CBC-256\n"
        "con1: #6, CONNECTING, IKEv2, 3_i* 0_r\n"
    )
    snap = parse_list_sas(text)
    assert [(i.name, i.uniqueid) for i in snap.ike_sas] == [("con1", 5), ("con1", 6)]
    assert [(c.uniqueid, c.state) for c in snap.ike_sas[0].child_sas] == [
        (8, "REKEYED"),
        (9, "INSTALLED"),
    ]


def test_truncated_last_line_is_dropped():
    cut = ONE[: ONE.index("168 bytes") + 3]
    c = parse_list_sas(cut).ike_sas[0].child_sas[0]
    assert (c.bytes_in, c.bytes_out, c.remote_ts) == (84, None, ())


@pytest.mark.parametrize(
    "text",
    [
        "connecting to 'unix:///var/run/charon.vici' failed\n",
        "\x00\x01\x02\xff" * 50,
        "PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data.\n64 bytes from 10.0.0.1: icmp_seq=1\n",
    ],
)
def test_output_that_is_not_list_sas_is_a_parse_error(text):
    with pytest.raises(ParseError, match="is this the output of 'swanctl --list-sas'"):
        parse_list_sas(text)


@pytest.mark.parametrize(
    ("text", "match", "attributed"),
    [
        (
            "a: #1, ESTABLISHED, IKEv2, x\n    in  1, 2 bytes, 3 packets\n",
            "before any CHILD_SA",
            True,
        ),
        ("a: #x1, ESTABLISHED, IKEv2, x\n", "not a number", True),
        ("a: #1, ESTABLISHED, IKEv2, x\n  local  no quotes here\n", "malformed address", True),
        (
            "a: #1, ESTABLISHED, IKEv2, x\n  c: #1, reqid 1, INSTALLED, TUNNEL, ESP:\n"
            "    in  1, 2 bytes\n",
            "malformed counters",
            True,
        ),
        (
            "a: #1, ESTABLISHED, IKEv2, x\n  c: #99999999999999999999999, reqid 1, I, T, E:\n",
            "not a number",
            True,
        ),
        ("garbage first\na: #1, ESTABLISHED, IKEv2, x\n", "expected 'name: #N", False),
    ],
)
def test_broken_lines_become_warnings(text, match, attributed):
    snap = parse_list_sas(text)
    assert [i.name for i in snap.ike_sas] == ["a"]
    assert any(match in w for w in snap.warnings), snap.warnings
    assert snap.unattributed is not attributed
    assert snap.ike_sas[0].damaged is attributed


def test_swanctl_lines_whose_header_was_lost_are_not_an_error_but_unattributed():
    snap = parse_list_sas("  local  '%any' @ 1.2.3.4[500]\n  established 5s ago\n")
    assert snap.ike_sas == () and snap.unattributed and len(snap.warnings) == 2


def test_a_duplicated_header_is_a_separate_entry():
    snap = parse_list_sas("a: #1, ESTABLISHED, IKEv2, x\na: #1, ESTABLISHED, IKEv2, x\n")
    assert len(snap.ike_sas) == 2 and not snap.warnings


def test_a_single_garbage_line_without_newline_is_an_error_not_no_sas():
    with pytest.raises(ParseError, match="line 1"):
        parse_list_sas("\x00\x01 not swanctl output at all {{{")


# ---- older and newer formats, as swanctl/commands/list_sas.c of each release prints them --

V53 = (
    "gw: #3, ESTABLISHED, IKEv2, adbf8bd39b23fd5b:cf503a5ea2e22817\n"
    "  local  'moon' @ 10.0.0.1\n"
    "  remote 'sun' @ 10.0.0.2 EAP: 'carol'\n"
    "  established 77s ago, rekeying in 13165s\n"
    "  net: #4, reqid 1, INSTALLED, TUNNEL, ESP:AES_CBC-128/HMAC_SHA1_96\n"
    "    installed 77 ago, rekeying in 3000s, expires in 3600s\n"
    "    in  c8aa231a,     84 bytes,     1 packets,     5s ago\n"
    "    out c5bbf995,      0 bytes,     0 packets\n"
    "    local  10.1.0.0/24\n"
    "    remote 10.2.0.0/24\n"
)


def test_53_address_lines_without_port_and_eap_identity():
    snap = parse_list_sas(V53)
    assert snap.warnings == ()
    ike = snap.ike_sas[0]
    assert (ike.local_host, ike.local_id, ike.remote_host, ike.remote_id) == (
        "10.0.0.1",
        "moon",
        "10.0.0.2",
        "sun",
    )
    c = ike.child_sas[0]
    assert (c.uniqueid, c.bytes_in, c.packets_in, c.bytes_out) == (4, 84, 1, 0)


def test_52_child_lines_without_reqid():
    text = V53.replace(", reqid 1,", ",")
    c = parse_list_sas(text).ike_sas[0].child_sas[0]
    assert (c.name, c.uniqueid, c.state, c.mode) == ("net", 4, "INSTALLED", "TUNNEL")


def test_virtual_ips_after_the_port():
    text = V53.replace("@ 10.0.0.1\n", "@ 10.0.0.1[4500] [10.3.0.1]\n").replace(
        "@ 10.0.0.2 EAP: 'carol'\n", "@ 10.0.0.2[4500] EAP: 'carol' [10.3.0.1]\n"
    )
    ike = parse_list_sas(text).ike_sas[0]
    assert (ike.local_host, ike.remote_host, ike.remote_id) == ("10.0.0.1", "10.0.0.2", "sun")


def test_per_cpu_child_sas_with_cpu_field_are_separate_entries():
    # 6.0.2+: one CHILD_SA per CPU (same reqid), plus the fallback SA with "cpu -"
    head = "gw: #1, ESTABLISHED, IKEv2, 1_i* 2_r\n  local  'a' @ 10.0.0.1[500]\n  remote 'b' @ 10.0.0.2[500]\n"
    kids = "".join(
        f"  net: #{n}, reqid 1, cpu {cpu}, INSTALLED, TUNNEL, ESP:AES_GCM_16-256\n"
        f"    in  c{n:07x},    {n}00 bytes,     {n} packets\n"
        f"    out c{n:07x},      0 bytes,     0 packets\n"
        "    local  10.1.0.0/24\n    remote 10.2.0.0/24\n"
        for n, cpu in ((1, "-"), (2, "0"), (3, "1"))
    )
    snap = parse_list_sas(head + kids)
    assert snap.warnings == ()
    got = [(c.name, c.uniqueid, c.state, c.mode, c.bytes_in) for c in snap.ike_sas[0].child_sas]
    assert got == [
        ("net", 1, "INSTALLED", "TUNNEL", 100),
        ("net", 2, "INSTALLED", "TUNNEL", 200),
        ("net", 3, "INSTALLED", "TUNNEL", 300),
    ]


def test_a_child_header_that_lost_its_indentation_stays_a_child():
    text = V53.replace("  net: #4", "net: #4")
    snap = parse_list_sas(text)
    assert [i.name for i in snap.ike_sas] == ["gw"] and snap.ike_sas[0].child_sas[0].bytes_in == 84
