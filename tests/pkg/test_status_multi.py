"""The status page and the dashboard widget with several Azure tunnels (issue 10 item 4):
every tunnel with its LNG and Azure's view of its connection and LNG, a row per LNG; every
value from the agent escaped; still read from `s2s-agent status --json` with a deadline."""

from __future__ import annotations

import json
import re

import pytest

from tests.helpers.multistatus import NEW, SUB_B, multi_doc

from .harness import render_page

EVIL = "<script>alert(1)</script>"


def doc() -> dict:
    d = multi_doc()
    d["tunnels"][1]["azure"]["lng"]["provisioning_state"] = EVIL
    d["lngs"][1]["azure_error"] = d["lngs"][1]["azure_error"] + " " + EVIL
    d["tunnels"][2]["azure"]["error"] += " " + EVIL
    return d


def page(tmp_path, name: str, d: dict) -> str:
    r = render_page(tmp_path, name, f"#!/bin/sh\ncat <<'JSON'\n{json.dumps(d)}\nJSON\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "<script>" not in r.stdout  # every value escaped
    return r.stdout


def test_status_page_shows_each_tunnels_lng_and_azures_view(tmp_path):
    html = page(tmp_path, "status_s2s_agent.php", doc())
    assert html.count("<b>lng-pfsense</b> (subscription") == 2  # con1 and con4
    assert "; shared with con4" in html and "; shared with con1" in html
    assert f"<b>lng-pfsense-b</b> (subscription {SUB_B}, resource group rg-s2s-b" in html
    assert (
        "cn-pfsense-azure: <b>Connected</b>, in 1.0 MiB / out 512.0 KiB (read 00:00:12 ago)" in html
    )
    assert f"LNG lng-pfsense: {NEW} (Succeeded, read 00:00:12 ago)" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "cn-pfsense-azure-b: <b>?</b> (never read)" in html
    assert "AuthorizationFailed" in html


def test_status_page_has_a_row_per_lng(tmp_path):
    html = page(tmp_path, "status_s2s_agent.php", doc())
    panel = html.split("Azure Local Network Gateways", 1)[1]
    assert "<b>lng-pfsense</b><br/><small>subscription 6d1c7a0e" in panel
    assert "<b>lng-pfsense-b</b>" in panel and "profile branch" in panel
    assert "backing off until 2026-11-30T07:01:40+00:00" in panel
    assert "<td>1 / 6</td>" in panel and "<b>FAILED</b>" in panel


@pytest.mark.parametrize("lng_view", [True, False])
def test_widget_shows_each_tunnels_lng_and_azure(tmp_path, lng_view):
    d = doc()
    if not lng_view:
        for t in d["tunnels"]:
            t["azure"].pop("lng")
    html = page(tmp_path, "widgets/widgets/s2s_agent.widget.php", d)
    assert len(re.findall(r"LNG: lng-pfsense\s", html)) == 2 and "LNG: lng-pfsense-b" in html
    assert "Azure: Connected" in html
    assert (f"LNG has {NEW} (read 00:00:12 ago)" in html) is lng_view


def test_single_tunnel_documents_of_before_still_render(tmp_path):
    from .harness import STATUS

    html = page(
        tmp_path,
        "status_s2s_agent.php",
        {**STATUS, "tunnels": [dict(STATUS["tunnels"][0], name="hq")]},
    )
    assert "Azure Local Network Gateways" not in html
    assert "<b>Connected</b>" in html


def test_status_page_shows_a_groups_active_member(tmp_path):
    d = doc()
    rem = d["tunnels"][0]["remediation"]
    rem.update(
        wan_source="gateway_group WAN_FAILOVER",
        wan_interface="wan2",
        wan_gateway="WAN2GW" + EVIL,
        wan_tier=2,
    )
    html = page(tmp_path, "status_s2s_agent.php", d)
    assert "gateway_group WAN_FAILOVER via wan2 (gateway WAN2GW&lt;script&gt;" in html
    assert ", tier 2)" in html
