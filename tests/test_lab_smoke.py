"""Smoke tests of the real lab (root + strongSwan), plus the lab syslogd's pure formatter."""

from __future__ import annotations

import re

import pytest

from tests.lab import config
from tests.lab.lab import Lab
from tests.lab.syslogd import format_line


# ---- pure: the syslogd formatter (no root needed) ------------------------------------------
def test_syslogd_rewrites_glibc_datagram_as_pfsense_line():
    lines = format_line(
        b"<30>Nov  6 22:47:17 charon: 09[IKE] <con1|3> sending DPD request\n", "pfsense", pid=1234
    )
    assert lines == ["Nov  6 22:47:17 pfsense charon[1234]: 09[IKE] <con1|3> sending DPD request"]


def test_syslogd_keeps_an_existing_pid_and_splits_lines():
    lines = format_line(b"<30>Nov 26 01:02:03 starter[77]: a\nb", "fw", pid=5)
    assert lines == ["Nov 26 01:02:03 fw starter[77]: a", "Nov 26 01:02:03 fw starter[77]: b"]


def test_syslogd_without_header_uses_current_time():
    (line,) = format_line(b"<13>charon: hello", "pfsense", now=0.0)
    assert re.fullmatch(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d pfsense charon: hello", line)


def test_onprem_config_is_pfsense_style():
    text = config.onprem_swanctl(config.Scenario(con2=True), "198.51.100.2")
    assert "con1 {" in text and "con2_1 {" in text and "con2_2 {" in text
    assert "id = 198.51.100.2" in text and "mobike = no" in text
    assert config.Scenario().psk not in text  # pfSense writes base64 ("0s...") secrets


# ---- the real lab ----------------------------------------------------------------------


@pytest.mark.lab
def test_tunnel_up_and_in_tunnel_ping_works(tunnel: Lab):
    res = tunnel.ping(3)
    assert res.received == res.sent == 3
    sas = tunnel.swanctl("onprem", "--list-sas").stdout
    assert re.search(r"^con1: #\d+, ESTABLISHED, IKEv2", sas, re.M)
    assert re.search(r"^  con1: #\d+, reqid \d+, INSTALLED, TUNNEL-in-UDP", sas, re.M)


@pytest.mark.lab
def test_no_plaintext_path_without_the_tunnel(tunnel: Lab):
    routes = tunnel.exec("onprem", ["ip", "route", "show", "table", "all"]).stdout
    assert not re.search(r"^default ", routes, re.M)
    tunnel.terminate_ike("con1")
    tunnel.wait_for(
        lambda: "con1:" not in tunnel.swanctl("onprem", "--list-sas").stdout,
        10,
        what="con1 to be gone",
    )
    assert tunnel.underlay_ok(), "the WAN underlay itself must still work"
    assert not tunnel.ping(2), "LAN->VNet ping must not work without the IPsec SA"
    tunnel.initiate("con1")
    assert tunnel.wait_for(lambda: tunnel.ping(1), 10, what="ping after re-initiate")


@pytest.mark.lab
def test_dead_peer_breaks_ping_and_restore_fixes_it(tunnel: Lab):
    old_pid = tunnel.charon_pid("azure")
    tunnel.kill_charon("azure")
    assert tunnel.charon_pid("azure") is None
    assert not tunnel.ping(2)
    tunnel.start_charon("azure")
    assert tunnel.charon_pid("azure") not in (None, old_pid)
    tunnel.terminate_ike("con1", timeout=3, force=True)
    tunnel.initiate("con1")
    assert tunnel.wait_for(lambda: tunnel.ping(1), 10, what="ping after the peer came back")


@pytest.mark.lab
def test_syslog_goes_through_dev_log_in_pfsense_format(tunnel: Lab):
    pid = tunnel.charon_pid("onprem")
    text = tunnel.syslog_log().read_text()
    assert re.search(
        rf"^[A-Z][a-z]{{2}} [ \d]\d \d\d:\d\d:\d\d pfsense charon\[{pid}\]: \d\d\[IKE\] <con1\|\d+> "
        r"IKE_SA con1\[\d+\] established between 198\.51\.100\.2\[198\.51\.100\.2\]",
        text,
        re.M,
    )
    assert re.search(
        r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d\d\[IKE\] <con1\|\d+> CHILD_SA con1\{\d+\} established",
        tunnel.charon_log("onprem").read_text(),
        re.M,
    )


@pytest.mark.lab
def test_agent_side_processes_see_the_onprem_charon(tunnel: Lab):
    res = tunnel.exec("onprem", ["swanctl", "--list-sas", "--uri", "unix:///var/run/charon.vici"])
    assert "con1:" in res.stdout
    assert "onprem:" in tunnel.swanctl("azure", "--list-sas").stdout
