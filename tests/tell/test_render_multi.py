"""status, check and metrics of several Azure tunnels on two LNGs (issue 10 item 4): each
tunnel's LNG and Azure's view, a per-LNG section; Nagios: the worst wins and the line names
the failing tunnel and LNG, --tunnel checks one; Prometheus: per tunnel and per LNG series,
checked with a strict parser of the exposition format."""

from __future__ import annotations

import copy

import pytest

from s2s_agent.tell import render
from tests.helpers.multistatus import DENIED, NEW, SUB_B, multi_doc
from tests.helpers.promtext import ExpositionError, parse, sample


def test_status_names_each_tunnels_lng_and_azures_view():
    text = render.status_text(multi_doc())
    assert (
        "  LNG lng-pfsense-b: subscription " + SUB_B + ", resource group rg-s2s-b, profile branch"
    ) in text
    assert (
        "con4: Azure sees cn-pfsense-azure Connected, in 1.0 MiB, out 512.0 KiB (read 12s ago); "
        f"LNG lng-pfsense has {NEW} (Succeeded, read 12s ago)"
    ) in text
    assert f"con2: Azure sees cn-pfsense-azure-b ? (read never); error: {DENIED}" in text
    d = multi_doc()
    d["tunnels"][0]["azure"]["tunnels"] = [
        {"tunnel": "vng_20.1.2.3", "status": "Connected"},
        {"tunnel": "vng_20.1.2.4", "status": "NotConnected"},
    ]
    assert "(read 12s ago) [vng_20.1.2.3 Connected, vng_20.1.2.4 NotConnected]; LNG" in (
        render.status_text(d)
    )


def test_status_has_a_section_per_lng():
    text = render.status_text(multi_doc())
    section = text.split("\nLNGs:\n", 1)[1]
    assert "  lng-pfsense (subscription 6d1c7a0e" in section and "tunnels con1, con4" in section
    assert f"Azure has {NEW} (read 12s ago): matches the WAN; applied {NEW}" in section
    assert (
        "Azure writes 1/6 in the last hour; backing off until 2026-11-30T07:01:40+00:00 "
        "(backing off after a failed attempt)"
    ) in section
    assert f"    Azure read error: {DENIED}" in section
    assert "last remediation 2026-11-30T06:59:30+00:00: FAILED in 20.0s" in section
    d = multi_doc()
    d["lngs"][0]["ip_matches_wan"] = False
    assert "DIFFERS from the WAN" in render.status_text(d)


def test_check_worst_wins_and_names_the_failing_tunnel_and_lng():
    code, line = render.check(multi_doc())
    assert code == render.NAGIOS_CRITICAL
    head = line.split(" | ")[0]
    assert head.startswith("S2S CRITICAL - con2 DOWN (ike_sa_missing); LNG lng-pfsense-b ")
    assert "remediation failed" in head and "Azure's view unreadable" in head
    assert head.endswith("; con1 UP; con4 UP")
    assert "'lng-pfsense_azure_writes'=1;;6;0;6" in line


def test_check_an_lng_in_trouble_is_a_warning_even_with_every_tunnel_up():
    d = multi_doc()
    d["tunnels"][2].update(health="UP", reasons=[])
    code, line = render.check(d)
    assert code == render.NAGIOS_WARNING and line.startswith("S2S WARNING - LNG lng-pfsense-b")
    d["lngs"][1].update(last_remediation=None, azure_error=None, backoff_until=None)
    assert render.check(d)[0] == render.NAGIOS_OK
    d["lngs"][0]["ip_matches_wan"] = False  # Azure has another address and nothing runs
    code, line = render.check(d)
    assert code == render.NAGIOS_WARNING and f"Azure has {NEW}, WAN is {NEW}" in line
    d["lngs"][0]["running"] = True  # healing now: not a problem
    assert render.check(d)[0] == render.NAGIOS_OK


def test_check_one_tunnel():
    assert render.check(multi_doc(), tunnel="con1") == (
        0,
        "S2S OK - con1 UP | 'con1_up'=1;;;0;1 'con1_bytes_in'=840B 'con1_bytes_out'=840B "
        "'lng-pfsense_azure_writes'=1;;6;0;6 'lng-pfsense_ip_matches_wan'=1;;;0;1",
    )
    code, line = render.check(multi_doc(), tunnel="con2")
    assert code == 2 and "LNG lng-pfsense-b" in line and "con1" not in line
    assert render.check(multi_doc(), tunnel="nope") == (
        3,
        "S2S UNKNOWN - no tunnel nope in the status (tunnels: con1, con4, con2)",
    )


def test_metrics_per_tunnel_and_per_lng_parse_strictly():
    fams = parse(render.metrics(multi_doc()))
    b = {"lng": "lng-pfsense-b", "subscription": SUB_B, "resource_group": "rg-s2s-b"}
    assert sample(fams, "s2s_tunnel_lng_info", tunnel="con4", lng="lng-pfsense") == 1
    assert (
        sample(fams, "s2s_tunnel_wan_info", tunnel="con2", source="interface wan0", address=NEW)
        == 1
    )
    assert sample(fams, "s2s_lng_writes_last_hour", **b) == 1
    assert sample(fams, "s2s_lng_write_limit", **b) == 6
    assert sample(fams, "s2s_lng_backoff_seconds", **b) == 88
    assert sample(fams, "s2s_lng_last_remediation_success", **b) == 0
    assert sample(fams, "s2s_lng_last_remediation_success", lng="lng-pfsense") == 1
    assert sample(fams, "s2s_lng_ip_matches_wan", lng="lng-pfsense") == 1
    assert not [
        k for k in fams["s2s_lng_ip_matches_wan"]["samples"] if ("lng", "lng-pfsense-b") in k
    ]
    assert sample(fams, "s2s_lng_azure_read_error", **b) == 1
    assert sample(fams, "s2s_lng_info", lng="lng-pfsense-b", profile="branch") == 1
    # one series per connection, though con1 and con4 share it (active-active)
    conn = fams["s2s_azure_connection_status"]["samples"]
    assert len(conn) == 4
    assert (
        sample(
            fams, "s2s_azure_connection_status", connection="cn-pfsense-azure", status="Connected"
        )
        == 1
    )
    assert sample(fams, "s2s_azure_connection_ingress_bytes", lng="lng-pfsense") == 1048576
    # the series of before are unchanged
    assert sample(fams, "s2s_tunnel_up", tunnel="con2", ike="con2") == 0
    assert all(f["type"] == "gauge" and f["help"] for f in fams.values())


def test_metrics_escape_odd_label_values_and_skip_non_numbers():
    d = copy.deepcopy(multi_doc())
    d["lngs"][0]["name"] = 'we"ird\\lng\nx'
    d["lngs"][0]["writes_last_hour"] = "many"  # a state file edited by hand: no sample
    d["tunnels"][0]["remediation"]["wan_interface"] = "igb0\\"
    fams = parse(render.metrics(d))
    assert sample(fams, "s2s_lng_write_limit", lng='we"ird\\lng\nx') == 6
    assert not any(
        ("lng", 'we"ird\\lng\nx') in k for k in fams["s2s_lng_writes_last_hour"]["samples"]
    )
    assert sample(fams, "s2s_tunnel_wan_info", tunnel="con1", interface="igb0\\") == 1


@pytest.mark.parametrize(
    "bad",
    [
        "# TYPE a gauge\na 1",  # no final newline
        "a 1\n",  # no TYPE
        '# TYPE a gauge\na{x="\\q"} 1\n',  # bad escape
        "# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n",  # split family
        "# TYPE a gauge\na 1\na 1\n",  # the same series twice
        "# TYPE a gauge\na one\n",
        '# TYPE a gauge\na{1x="y"} 1\n',
    ],
)
def test_the_strict_parser_rejects(bad):
    with pytest.raises(ExpositionError):
        parse(bad)
