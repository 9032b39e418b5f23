"""The small s2s-agent.xml kept for registrations by earlier builds (their configurationfile):
it must let pfSense's sync_package() move the registration, and delete_package_xml() remove
what the real page registered. Through pfSense's real pkg-utils.inc: pfsense_real/rename.py."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .conftest import FILES

PKG = FILES / "usr/local/pkg"
INFO = FILES / "usr/local/share/pfSense-pkg-s2s-agent/info.xml"


def test_legacy_file_mirrors_what_the_page_registers():
    new, old = ET.parse(PKG / "s2s_agent.xml").getroot(), ET.parse(PKG / "s2s-agent.xml").getroot()
    assert ET.parse(INFO).getroot().findtext("package/configurationfile") == "s2s_agent.xml"
    assert old.findtext("include_file") == new.findtext("include_file")
    assert [m.findtext("name") for m in old.findall("menu")] == [
        m.findtext("name") for m in new.findall("menu")
    ]
    assert [s.findtext("name") for s in old.findall("service")] == ["s2sagent"]
    assert old.find("service/rcfile").text == new.find("service/rcfile").text
    assert old.findtext("custom_php_resync_config_command").strip() == "s2s_agent_legacy_resync();"
    assert old.findtext("custom_php_deinstall_command").strip() == "s2s_agent_deinstall();"
    # its page never renders or saves a form: it redirects to the settings page
    assert old.find("fields") is None and old.findtext("name") != new.findtext("name")
    assert "xml=s2s_agent.xml" in old.findtext("custom_php_command_before_form")
    assert old.find("plugins") is None  # "s2s-agent_plugin_gateway" is no PHP function
