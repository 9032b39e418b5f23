"""ipsec statusall parser: the quirks decided in its docstring, one test each."""

from __future__ import annotations

import pytest

from s2s_agent.core.errors import ParseError
from s2s_agent.observe.parsers import parse_statusall

HDR = "Security Associations (1 up, 0 connecting):\n"
IKE = "       azure[1]: ESTABLISHED {ago}, 198.51.100.2[198.51.100.2]...203.0.113.1[203.0.113.1]\n"
CHILD = (
    "   azure-net{{1}}:  INSTALLED, TUNNEL, reqid 1, ESP in UDP SPIs: 084bbfae_i 7f93c6ba_o\n"
    "   azure-net{{1}}:  AES_CBC_256/HMAC_SHA2_256_128, {traffic}, rekeying in 57 minutes\n"
    "   azure-net{{1}}:   192.168.1.0/24 === 10.1.10.0/24\n"
)


def one(ago="0 seconds ago", traffic="84 bytes_i (1 pkt, 0s ago), 84 bytes_o (1 pkt, 0s ago)"):
    return HDR + IKE.format(ago=ago) + CHILD.format(traffic=traffic)


@pytest.mark.parametrize(
    ("ago", "seconds"),
    [
        ("0 seconds ago", 0),
        ("1 second ago", 1),
        ("120 seconds ago", 120),
        ("3 minutes ago", 180),
        ("1 minute ago", 60),
        ("5 hours ago", 18000),
        ("3 days ago", 259200),
    ],
)
def test_established_age_is_converted_to_seconds_lower_bound(ago, seconds):
    assert parse_statusall(one(ago=ago)).ike_sas[0].established_seconds == seconds


@pytest.mark.parametrize(
    ("traffic", "want"),
    [
        ("84 bytes_i (1 pkt, 0s ago), 168 bytes_o (2 pkts, 3s ago)", (84, 168, 1, 2)),
        ("0 bytes_i, 0 bytes_o", (0, 0, 0, 0)),  # never used: zero packets
        ("4200 bytes_i, 0 bytes_o", (4200, 0, None, 0)),  # bytes without use time: unknown
    ],
)
def test_counters_and_the_missing_packet_count(traffic, want):
    c = parse_statusall(one(traffic=traffic)).ike_sas[0].child_sas[0]
    assert (c.bytes_in, c.bytes_out, c.packets_in, c.packets_out) == want


def test_same_ike_and_child_name_are_told_apart_by_bracket_kind():
    text = (
        HDR
        + "        con1[4]: ESTABLISHED 1 second ago, 198.51.100.2[a]...203.0.113.1[b]\n"
        + "        con1{4}:  INSTALLED, TUNNEL, reqid 1, ESP SPIs: 1_i 2_o\n"
        + "        con1{4}:   10.0.0.0/24 === 10.1.0.0/24\n"
    )
    ike = parse_statusall(text).ike_sas[0]
    assert (ike.name, ike.uniqueid, ike.local_id, ike.remote_id) == ("con1", 4, "a", "b")
    assert [(c.name, c.uniqueid) for c in ike.child_sas] == [("con1", 4)]


def test_input_order_is_kept_and_children_follow_their_ike_sa():
    text = (
        "Security Associations (2 up, 0 connecting):\n"
        "        con2[9]: ESTABLISHED 1 second ago, 1.1.1.1[x]...2.2.2.2[y]\n"
        "      con2_1{7}:  INSTALLED, TUNNEL, reqid 7, ESP SPIs: 1_i 2_o\n"
        "        con1[3]: ESTABLISHED 1 second ago, 1.1.1.1[x]...3.3.3.3[z]\n"
        "      con1_1{8}:  INSTALLED, TUNNEL, reqid 8, ESP SPIs: 1_i 2_o\n"
    )
    snap = parse_statusall(text)
    assert [(i.name, i.uniqueid) for i in snap.ike_sas] == [("con2", 9), ("con1", 3)]
    assert [c.name for c in snap.ike_sas[0].child_sas] == ["con2_1"]
    assert [c.name for c in snap.ike_sas[1].child_sas] == ["con1_1"]


def test_ike_version_comes_from_the_spi_line():
    text = one() + "       azure[1]: IKEv1 SPIs: 11_i 22_r*, rekeying in 7 hours\n"
    assert parse_statusall(text).ike_sas[0].version == 1
    assert parse_statusall(one()).ike_sas[0].version is None


def test_multiple_traffic_selectors_comma_space_and_several_lines():
    text = (
        HDR
        + IKE.format(ago="0 seconds ago")
        + "   azure-net{1}:  INSTALLED, TUNNEL, reqid 1, ESP SPIs: 1_i 2_o\n"
        + "   azure-net{1}:   10.0.0.0/24 10.0.1.0/24 === 10.1.0.0/24, 10.2.0.0/24\n"
        + "   azure-net{1}:   10.0.2.0/24 === 10.3.0.0/24\n"
    )
    c = parse_statusall(text).ike_sas[0].child_sas[0]
    assert c.local_ts == ("10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24")
    assert c.remote_ts == ("10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24")


def test_connecting_sa_without_children():
    text = (
        "Security Associations (0 up, 1 connecting):\n"
        "        con1[2]: CONNECTING, 198.51.100.2[%any]...203.0.113.1[%any]\n"
        "        con1[2]: IKEv2 SPIs: 92cede6673ba02f7_i* 0000000000000000_r\n"
    )
    ike = parse_statusall(text).ike_sas[0]
    assert (ike.state, ike.local_id, ike.established_seconds, ike.child_sas) == (
        "CONNECTING",
        "%any",
        None,
        (),
    )


def test_routed_connections_before_the_sa_section_are_not_sas():
    text = (
        "Routed Connections:\n"
        "        con3{7}:  ROUTED, TUNNEL, reqid 7\n"
        "        con3{7}:   192.168.1.0/24 === 10.9.0.0/16\n"
        "Security Associations (0 up, 0 connecting):\n"
        "  none\n"
    )
    assert parse_statusall(text).ike_sas == ()


def test_truncated_last_line_is_skipped_and_a_bad_line_costs_only_itself():
    full = one()
    cut = full[: full.index("84 bytes_o") + 4]  # no newline at the end
    snap = parse_statusall(cut)
    c = snap.ike_sas[0].child_sas[0]
    assert c.bytes_in is None and c.local_ts == ()
    assert any("cut off" in w for w in snap.warnings)
    snap = parse_statusall(HDR + "garbage here\n" + IKE.format(ago="0 seconds ago"))
    assert [i.state for i in snap.ike_sas] == ["ESTABLISHED"]
    assert snap.warnings[0].startswith("line 2:") and snap.unattributed


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty output"),
        ("\n\n  \n", "empty output"),
        ("Status of IKE charon daemon (strongSwan 5.9.8):\n", "no 'Security Associations'"),
        ("\x00\x01\x02\xff" * 50, "binary"),
        ("PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data.\n", "no 'Security Associations'"),
    ],
)
def test_output_that_is_not_statusall_is_a_parse_error(text, match):
    with pytest.raises(ParseError, match=match):
        parse_statusall(text)


@pytest.mark.parametrize(
    ("text", "match", "attributed"),
    [
        (HDR + "   azure-net{1}:  INSTALLED, TUNNEL, reqid 1\n", "before any IKE SA", False),
        (HDR + "       azure[1]: IKEv2 SPIs: 1_i 2_r\n", "state line missing", True),
        (HDR + HDR, "second 'Security Associations'", False),
        (HDR + "       azure[1]: ESTABLISHED, no hosts here\n", "state line missing", True),
        (one(traffic="x bytes_i, 1 bytes_o"), "malformed counters", True),
    ],
)
def test_broken_lines_become_warnings(text, match, attributed):
    snap = parse_statusall(text)
    assert any(match in w for w in snap.warnings), snap.warnings
    assert snap.unattributed is not attributed
    if attributed:
        assert snap.ike_sas[0].damaged


def test_a_duplicated_state_line_is_a_separate_entry():
    snap = parse_statusall(one() + IKE.format(ago="0 seconds ago"))
    assert [i.state for i in snap.ike_sas] == ["ESTABLISHED", "ESTABLISHED"]
    assert len(snap.ike_sas[0].child_sas) == 1


def test_non_text_input_is_a_parse_error():
    with pytest.raises(ParseError):
        parse_statusall(None)  # type: ignore[arg-type]
    assert parse_statusall(one().encode()) == parse_statusall(one())


def test_parse_cli_prints_skipped_lines_on_stderr_and_in_the_json(tmp_path, capsys):
    import json

    from s2s_agent import cli

    f = tmp_path / "statusall.txt"
    f.write_text(HDR + "garbage here\n" + IKE.format(ago="0 seconds ago"))
    assert cli.main(["parse", "statusall", str(f)]) == 0
    out, err = capsys.readouterr()
    assert "warning: skipped line 2:" in err
    doc = json.loads(out)
    assert [i["name"] for i in doc["ike_sas"]] == ["azure"]
    assert doc["warnings"] == ["line 2: expected 'name[N]:' or 'name{N}:', got 'garbage here'"]
    f.write_text(one())
    assert cli.main(["parse", "statusall", str(f)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and set(json.loads(out)) == {"ike_sas"}  # the contract, unchanged
    f.write_bytes(b"\x00\x01\x02" * 100)
    assert cli.main(["parse", "statusall", str(f)]) == 1
    assert "is this the output of 'ipsec statusall'" in capsys.readouterr().err


# ---- older and newer formats, as stroke_list.c of each release prints them ----------------


def test_4x_bare_header_ike_spis_and_counters_without_packets():
    # 4.x: "Security Associations:" and "IKE SPIs:"; 4.x-5.0.3: "(Ns ago)" without packets
    text = (
        "Security Associations:\n"
        "        home[1]: ESTABLISHED 5 minutes ago, 10.1.0.10[alice]...10.1.0.1[moon]\n"
        "        home[1]: IKE SPIs: 7d0d6d2e3f1c2b4a_i* 9c0e8f7a6b5d4c3e_r, rekeying in 54 minutes\n"
        "        home{1}:  INSTALLED, TUNNEL, ESP SPIs: c1a2b3c4_i c5d6e7f8_o\n"
        "        home{1}:  AES_CBC_128/HMAC_SHA1_96, 336 bytes_i (14s ago), 0 bytes_o, rekeying in 14 minutes\n"
        "        home{1}:   10.1.0.10/32 === 10.2.0.0/16 \n"
    )
    snap = parse_statusall(text)
    assert snap.warnings == ()
    ike = snap.ike_sas[0]
    assert (ike.name, ike.state, ike.version, ike.established_seconds) == (
        "home",
        "ESTABLISHED",
        None,
        300,
    )
    c = ike.child_sas[0]
    assert (c.uniqueid, c.state, c.bytes_in, c.packets_in, c.bytes_out, c.packets_out) == (
        None,
        "INSTALLED",
        336,
        None,
        0,
        0,
    )
    assert (c.local_ts, c.remote_ts) == (("10.1.0.10/32",), ("10.2.0.0/16",))


def test_pre_53_rekeying_and_installed_share_the_reqid_and_stay_separate():
    text = (
        HDR + "  gw[3]: ESTABLISHED 2 hours ago, 1.1.1.1[1.1.1.1]...2.2.2.2[2.2.2.2]\n"
        "  net{21}:  REKEYING, TUNNEL, expires in 114 seconds\n"
        "  net{21}:   10.1.0.0/24 === 10.2.0.0/24 \n"
        "  net{21}:  INSTALLED, TUNNEL, ESP in UDP SPIs: cc436578_i c74a030d_o\n"
        "  net{21}:  AES_CBC_256/HMAC_SHA1_96, 336 bytes_i (4 pkts, 2s ago), 0 bytes_o, rekeying in 15 minutes\n"
        "  net{21}:   10.1.0.0/24 === 10.2.0.0/24 \n"
    )
    kids = parse_statusall(text).ike_sas[0].child_sas
    assert [(c.state, c.uniqueid, c.bytes_in) for c in kids] == [
        ("REKEYING", None, None),
        ("INSTALLED", None, 336),
    ]
    assert kids[0].local_ts == kids[1].local_ts == ("10.1.0.0/24",)


def test_a_cpu_field_after_the_reqid_is_ignored():
    text = one().replace(", reqid 1,", ", reqid 1, cpu 3,")
    assert parse_statusall(text).ike_sas[0].child_sas[0].state == "INSTALLED"


def test_pluto_status_after_charon_ends_the_section():
    text = (
        one()
        + "000 Status of IKEv1 pluto daemon (strongSwan 4.5.2):\n000 interface lo/lo ::1:500\n"
    )
    snap = parse_statusall(text)
    assert snap.warnings == () and len(snap.ike_sas) == 1
