"""A realistic pfSense config.xml with the package's settings, as the PHP array pfSense builds.

Mirrors pfSense's PHP (RELENG_2_7_2 and master; checked against the real code by
tests/pkg/pfsense_real). pfSense's PHP code sees config.xml through ``parse_xml_config()``
(src/etc/inc/xmlparse.inc):
every element becomes an array key, a leaf becomes its text ("" when empty, so ``isset()``
works for flags like ``<disabled/>``), and the tags of ``listtags()`` always become lists
(``phase1``, ``phase2``, ``config``, ``item``, ...), even with one entry. :func:`to_php`
does the same for the tests' stand-in of ``config_get_path()`` (tests/pkg/php_stubs).

:func:`config_with_package` adds ``<installedpackages><s2sagent><config>`` as the
package's settings page (src/usr/local/www/pkg_edit.php's save loop) stores it: checkboxes
``on`` ('' when unchecked), ``<encoding>base64</encoding>`` fields encoded, everything else
trimmed as typed.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG_27 = ROOT / "tests" / "golden" / "pfsense" / "config-2.7.xml"

# The listtags() of pfSense's src/etc/inc/xmlparse.inc (RELENG_2_7_2, master) that occur in
# the test configs or matter to the package (installedpackages menu/service/tab lists);
# tests/pkg/test_pfsense_real.py compares to_php() with the real parse_xml_config().
LIST_TAGS = frozenset(
    {
        "phase1",
        "phase2",
        "config",
        "item",
        "rule",
        "user",
        "group",
        "cert",
        "ca",
        "alias",
        "gateway_item",
        "gateway_group",
        "row",
        "route",
        "vip",
        "staticmap",
        "package",
        "member",
        "encryption-algorithm-option",
        "hash-algorithm-option",
        "mobilekey",
        "shellcmd",
        "earlyshellcmd",
        "widget",
        "priv",
        "dnsserver",
        "monitor_type",
        "menu",
        "service",
        "tab",
    }
)

BASE64_FIELDS = (
    "tunnel_name",
    "client_certificate",
)  # <encoding>base64</encoding> in s2s_agent.xml


def to_php(el: ET.Element) -> Any:
    """``el`` as pfSense's XML parser returns it (nested dicts, list tags as lists)."""
    if len(el) == 0:
        return (el.text or "").strip()
    out: dict[str, Any] = {}
    for child in el:
        value = to_php(child)
        if child.tag in LIST_TAGS:
            items = out.setdefault(child.tag, [])
            if value != "":  # as parse_xml_config(): an empty list element adds no entry
                items.append(value)
        else:
            out[child.tag] = value
    return out


def config_with_package(settings: dict[str, str], base: Path = CONFIG_27) -> str:
    """config.xml text: ``base`` plus the s2s-agent package settings."""
    root = ET.fromstring(base.read_text(encoding="utf-8"))
    pkgs = root.find("installedpackages")
    if pkgs is None:
        pkgs = ET.SubElement(root, "installedpackages")
    cfg = ET.SubElement(ET.SubElement(pkgs, "s2sagent"), "config")
    for key, value in settings.items():
        if key in BASE64_FIELDS and value:
            value = base64.b64encode(value.encode()).decode()
        ET.SubElement(cfg, key).text = value
    return ET.tostring(root, encoding="unicode")


def php_config(settings: dict[str, str], base: Path = CONFIG_27) -> dict[str, Any]:
    """The PHP array of :func:`config_with_package` (what ``$config`` holds on pfSense)."""
    return to_php(ET.fromstring(config_with_package(settings, base)))


# Settings an admin would enter for the Azure tunnel of config-2.7.xml (phase 1 ikeid 1,
# "My identifier" a static address: the case the agent remediates).
GUI_SETTINGS = {
    "enable": "on",
    "ikeid": "1",
    "tunnel_name": "azure-hq",
    "children": "",
    "interval": "10",
    "log_level": "info",
    "probe_source": "192.168.1.1",
    "probe_target": "10.1.10.4",
    "probe_count": "3",
    "probe_timeout": "2",
    "remediation": "on",
    "cloud": "AzureCloud",
    "tenant_id": "72f988bf-0000-4000-8000-5a2b3c4d5e6f",
    "client_id": "3c1e2d4f-0000-4000-8000-000000c11e47",
    "auth_method": "secret",
    "client_secret": "not-a-real~secret",
    "client_certificate": "",
    "subscription_id": "6d1c7a0e-52b1-4c59-9d6e-3f0a1b2c3d4e",
    "resource_group": "rg-s2s",
    "local_network_gateway": "lng-pfsense",
    "connection": "cn-pfsense-azure",
    "max_writes_per_hour": "4",
    "reset_connection_after": "300",
    "wan_source": "interface",
    "wan_interface": "wan",
    "http_endpoints": "",
    "quorum": "2",
    "hold_seconds": "60",
    "facility": "daemon",
    "reminder_interval": "1800",
}
