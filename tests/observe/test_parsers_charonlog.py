"""charon log classifier: one row per kind with real 5.9.8 message texts, and the formats."""

from __future__ import annotations

import pytest

from s2s_agent.core.model import LOG_KINDS
from s2s_agent.observe.parsers import classify_line, parse_log

# (message as charon logs it, kind). Texts from strongSwan 5.9.8's DBG calls or real logs.
TABLE = [
    (
        "IKE_SA azure[3] established between 192.0.2.77[192.0.2.77]...203.0.113.1[203.0.113.1]",
        "ike_established",
    ),
    (
        "CHILD_SA azure-net{2} established with SPIs d0e83628_i fa9d4200_o and TS 192.168.1.0/24 === 10.1.10.0/24",
        "child_established",
    ),
    (
        "outbound CHILD_SA con1{5} established with SPIs 1_i 2_o and TS 10.0.0.0/24 === 10.1.0.0/24",
        "child_established",
    ),
    (
        "deleting IKE_SA azure[1] between 192.0.2.88[198.51.100.2]...203.0.113.1[203.0.113.1]",
        "ike_deleted",
    ),
    ("IKE_SA deleted", "ike_deleted"),
    ("IKE_SA azure[1] state change: ESTABLISHED => DESTROYING", "ike_deleted"),
    (
        "closing CHILD_SA con1{21} with SPIs c1f2e3d4_i (0 bytes) c5b6a798_o (0 bytes) and TS 1.0.0.0/8 === 2.0.0.0/8",
        "child_deleted",
    ),
    (
        "closing expired CHILD_SA azure-net{4} with SPIs 0a0b0c0d_i 01020304_o and TS a === b",
        "child_deleted",
    ),
    ("CHILD_SA closed", "child_deleted"),
    ("sending DPD request", "dpd_request"),
    ("retransmit 3 of request with message ID 2", "retransmit"),
    ("sending retransmit 1 of request message ID 1234567, seq 1", "retransmit"),
    ("giving up after 5 retransmits", "retransmit_giveup"),
    ("giving up after 3 path probings", "retransmit_giveup"),
    ("tried 1 shared key for '198.51.100.2' - '203.0.113.1', but MAC mismatched", "auth_failed"),
    ("tried 2 shared keys for 'a' - 'b', but MAC mismatched", "auth_failed"),
    ("received AUTHENTICATION_FAILED notify error", "auth_failed"),
    ("received AUTHENTICATION_FAILED error notify", "auth_failed"),
    ("authentication of 'peer' with pre-shared key failed", "auth_failed"),
    ("no shared key found for '198.51.100.2' - '203.0.113.1'", "auth_failed"),
    ("calculated HASH does not match HASH payload", "auth_failed"),
    ("no acceptable proposal found", "no_proposal"),
    ("received NO_PROPOSAL_CHOSEN notify error", "no_proposal"),
    ("received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built", "no_proposal"),
    ("no matching proposal found, sending NO_PROPOSAL_CHOSEN", "no_proposal"),
    ("no proposal found", "no_proposal"),
    ("received proposals unacceptable", "no_proposal"),
    ("no acceptable traffic selectors found", "ts_unacceptable"),
    ("received TS_UNACCEPTABLE notify, no CHILD_SA built", "ts_unacceptable"),
    ("received TS_UNACCEPTABLE error notify", "ts_unacceptable"),
    ("traffic selectors 192.168.1.0/24 === 10.1.10.0/24 unacceptable", "ts_unacceptable"),
    ("no matching peer config found", "peer_config_not_found"),
    ("no peer config found", "peer_config_not_found"),
    (
        "no IKE config found for 203.0.113.1...192.0.2.88, sending NO_PROPOSAL_CHOSEN",
        "peer_config_not_found",
    ),
    ("old path is not available anymore, try to find another", "address_change"),
    ("old path is not preferred anymore", "address_change"),
    ("reauthenticating IKE_SA due to address change", "address_change"),
    ("local endpoint changed from 198.51.100.2[4500] to 198.51.100.9[4500]", "address_change"),
    ("remote endpoint changed from 203.0.113.1[4500] to 203.0.113.7[4500]", "address_change"),
    ("requesting address change using MOBIKE", "address_change"),
    ("implicitly requesting an address change", "address_change"),
    ("detected changes in NAT mappings, initiating MOBIKE update", "address_change"),
    ("198.51.100.2 disappeared from wan-op", "address_change"),
    ("192.0.2.77 appeared on wan-op", "address_change"),
    ("2001:db8::7 appeared on vtnet0", "address_change"),
    # near misses: must stay "other"
    ("remote endpoint changed from 203.0.113.1[500] to 203.0.113.1[4500]", "other"),
    ("local endpoint changed from 0.0.0.0[500] to 203.0.113.1[500]", "other"),
    ("no matching proposal found, trying alternative config", "other"),
    ("unable to create CHILD_SA while deleting IKE_SA", "other"),
    ("IKE_SA azure[1] state change: ESTABLISHED => DELETING", "other"),
    ("authentication of '203.0.113.1' with pre-shared key successful", "other"),
    ("received DELETE for IKE_SA azure[2]", "other"),
    ("restarting CHILD_SA azure-net", "other"),
    ("keeping statically configured path 198.51.100.2 - 203.0.113.1", "other"),
    ("looking for peer configs matching 1.2.3.4[%any]...5.6.7.8[5.6.7.8]", "other"),
    ("  activating IKE_DPD task", "other"),
    ("flags changed for fe80::a0dd:6aff:fee4:8394 on wan-op", "other"),
]


@pytest.mark.parametrize(("message", "kind"), TABLE, ids=[f"{k}:{m[:30]}" for m, k in TABLE])
def test_kind_of_each_message(message, kind):
    ev = classify_line(f"2026-11-26T22:48:17 10[IKE] <azure|1> {message}")
    assert ev.kind == kind
    assert ev.message == message


def test_table_covers_every_kind():
    assert {k for _, k in TABLE} == set(LOG_KINDS)


@pytest.mark.parametrize(
    ("line", "time", "conn", "ike_id"),
    [
        ("2026-11-26T22:48:17 10[IKE] <azure|1> x", "2026-11-26T22:48:17", "azure", 1),
        ("2026-11-26 22:48:17 10[IKE] <azure|1> x", "2026-11-26T22:48:17", "azure", 1),
        ("Nov 26 22:48:17 10[IKE] <azure|1> x", "2025-11-26T22:48:17", "azure", 1),
        ("Nov  6 22:48:17.123 10[IKE] <azure|1> x", "2025-11-06T22:48:17.123", "azure", 1),
        ("10[IKE] <azure|1> x", None, "azure", 1),
        ("10[IKE] x", None, None, None),
        ("16[IKE] <2> x", None, None, 2),
        ("09[IKE1] <con1|3> x", None, "con1", 3),
        ("[IKE] x", None, None, None),
        (
            "Nov 26 22:47:17 pfsense charon[64502]: 09[IKE] <con1|3> x",
            "2025-11-26T22:47:17",
            "con1",
            3,
        ),
        (
            "<30>Nov 26 22:47:17 pfsense charon[1]: 09[IKE] <con1|3> x",
            "2025-11-26T22:47:17",
            "con1",
            3,
        ),
        (
            "<30>1 2026-11-26T22:47:17.123456+00:00 pfsense charon 1234 - - 09[IKE] <con1|3> x",
            "2026-11-26T22:47:17.123456+00:00",
            "con1",
            3,
        ),
        ("<30>1 - pfsense charon 1234 - - 09[IKE] <con1|3> x", None, "con1", 3),
        ("Feb 29 22:47:17 fw charon[1]: 09[IKE] x", None, None, None),  # 2025: no Feb 29
        ("2026-13-01T00:00:00 09[IKE] x", None, None, None),
        ("2026-11-26T24:00:00 09[IKE] x", None, None, None),
    ],
)
def test_line_formats(line, time, conn, ike_id):
    ev = classify_line(line, year=2025)
    assert (ev.time, ev.conn, ev.ike_id, ev.message) == (time, conn, ike_id, "x")


def test_bsd_year_defaults_to_the_current_year_and_can_be_given():
    import time as clock

    now = clock.localtime().tm_year
    line = "Jan  1 00:00:01 fw charon[1]: 09[IKE] sending DPD request"
    assert classify_line(line).time == f"{now}-01-01T00:00:01"
    assert classify_line(line, year=2024).time == "2024-01-01T00:00:01"
    assert parse_log(line, year=2023)[0].time == "2023-01-01T00:00:01"


def test_line_without_marker_keeps_the_whole_line_as_message():
    ev = classify_line("Nov 26 22:52:08 pfsense syslogd: last message repeated 3 times\n")
    assert (ev.kind, ev.time, ev.conn, ev.message) == (
        "other",
        None,
        None,
        "Nov 26 22:52:08 pfsense syslogd: last message repeated 3 times",
    )


def test_marker_beyond_the_window_is_not_searched():
    ev = classify_line("A" * 5000 + " 09[IKE] sending DPD request")
    assert ev.kind == "other"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "\x00\x00\x00",
        "\ufffd\ufffd 09[IKE] \x00",
        "09[IKE] <" + "|" * 10000,
        "authentication of '" + "' " * 20000,
        "09[IKE] tried 1 shared key for " + "x" * 100000,
        b"\xff\xfe 09[IKE] sending DPD request",
        12345,
    ],
)
def test_garbage_is_other_never_an_exception(garbage):
    ev = classify_line(garbage)  # type: ignore[arg-type]
    assert ev.kind in LOG_KINDS


def test_parse_log_splits_on_newlines_only_and_skips_blank_lines():
    text = (
        "10[IKE] <a|1> sending DPD request\r\n"
        "\n"
        "   \n"
        "10[IKE] <a|1> giving up\u2028after 5 retransmits\n"
        "10[IKE] <a|1> giving up after 5 retransmits"
    )
    kinds = [e.kind for e in parse_log(text)]
    assert kinds == ["dpd_request", "other", "retransmit_giveup"]


def test_bsd_year_rolls_back_for_last_years_december(monkeypatch):
    import time as real_time

    from s2s_agent.observe.parsers import charonlog

    jan = real_time.struct_time((2027, 1, 1, 0, 0, 5, 4, 1, 0))
    monkeypatch.setattr(charonlog._clock, "localtime", lambda *a: jan)
    charonlog._stamp.cache_clear()
    dec = charonlog.classify_line(
        "Dec 31 23:59:58 pfsense charon[1]: 09[IKE] <con1|1> sending DPD request"
    )
    new = charonlog.classify_line(
        "Jan  1 00:00:04 pfsense charon[1]: 09[IKE] <con1|1> sending DPD request"
    )
    feb = charonlog.classify_line(
        "Feb  1 00:00:04 pfsense charon[1]: 09[IKE] <con1|1> sending DPD request"
    )
    assert (dec.time, new.time) == ("2026-12-31T23:59:58", "2027-01-01T00:00:04")
    assert feb.time == "2027-02-01T00:00:04"  # one month ahead: clock skew, not last year
    assert (
        charonlog.classify_line("Dec 31 23:59:58 09[IKE] x", year=2030).time
        == "2030-12-31T23:59:58"
    )
    charonlog._stamp.cache_clear()


# ---- journal (charon-systemd) and tab-separated copies (OPNsense log view) ---------------


def test_charon_systemd_journal_lines_have_no_marker_but_are_classified():
    ev = classify_line(
        "Nov 26 22:47:17 gw charon-systemd[812]: IKE_SA azure[3] established between "
        "198.51.100.2[198.51.100.2]...203.0.113.1[203.0.113.1]",
        year=2026,
    )
    assert (ev.kind, ev.conn, ev.ike_id, ev.time) == (
        "ike_established",
        "azure",
        3,
        "2026-11-26T22:47:17",
    )
    ev = classify_line(
        "2026-11-26T22:48:01+0100 gw charon-systemd[812]: giving up after 5 retransmits"
    )
    assert (ev.kind, ev.conn, ev.time) == ("retransmit_giveup", None, "2026-11-26T22:48:01+0100")
    assert ev.message == "giving up after 5 retransmits"
    # a CHILD_SA name is not the connection
    assert (
        classify_line("Nov 26 22:47:17 gw charon-systemd[812]: closing CHILD_SA net{5}").conn
        is None
    )
    assert (
        classify_line("Jan  2 03:04:05 gw charon-systemd[1]: x", year=2019).time
        == "2019-01-02T03:04:05"
    )


def test_journal_message_only_output_still_names_the_connection():
    # journalctl -u strongswan -o cat: the bare messages
    ev = classify_line("IKE_SA azure[7] state change: ESTABLISHED => DESTROYING")
    assert (ev.kind, ev.conn, ev.ike_id, ev.time) == ("ike_deleted", "azure", 7, None)


def test_tab_separated_copies_from_a_web_log_view():
    ev = classify_line(
        "2024-03-05T10:11:12\tInformational\tcharon\t09[IKE] <con1|3> sending DPD request"
    )
    assert (ev.kind, ev.conn, ev.ike_id, ev.time) == (
        "dpd_request",
        "con1",
        3,
        "2024-03-05T10:11:12",
    )
    ev = classify_line(
        "Mar  5 10:11:12\tNotice\tcharon\t12[IKE] <con2|7> giving up after 5 retransmits", year=2024
    )
    assert (ev.kind, ev.conn, ev.time) == ("retransmit_giveup", "con2", "2024-03-05T10:11:12")
