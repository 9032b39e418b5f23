"""pfSense GUI files: PHP syntax, XML the package framework understands, and the PHP logic
(resync -> YAML + secret file, validation, apply-myid) run with php-cli against stand-ins of
pfSense's config API (tests/pkg/php_stubs)."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from .conftest import FILES, PORT, require_tool
from .harness import GOOD, INC, PHASE1, STATUS, STUBS, render_page, run_harness

APPLY = FILES / "usr/local/libexec/s2s-agent/apply-myid.php"
PHP_FILES = sorted(p for p in FILES.rglob("*") if p.suffix in (".php", ".inc"))
XML_FILES = sorted(FILES.rglob("*.xml"))

# Elements pfSense's package framework reads from a <packagegui> file. Collected from
# pfsense/pfsense (master, 2026-03): src/usr/local/www/pkg_edit.php and pkg.php ($pkg[...],
# $pkga[...], $tab[...] keys), src/etc/inc/pkg-utils.inc (install_package_xml,
# delete_package_xml: menu, service, tabs, custom_php_* keys), src/etc/inc/service-utils.inc
# ($service[...] keys) and src/etc/inc/xmlparse.inc listtags_pkg() (list elements).
PACKAGEGUI_ELEMENTS = {
    # document / top level
    "packagegui",
    "copyright",
    "name",
    "title",
    "description",
    "version",
    "include_file",
    "ipsec_reload_function",  # ipsec.inc:ipsec_reload_package_hook (RELENG_2_7_2, master)
    "aftersaveredirect",
    "savetext",
    "savehelp",
    "saveicon",
    "savebtnclass",
    "note",
    "addedit_string",
    "delete_string",
    "adddeleteeditpagefields",
    "donotsave",
    "preoutput",
    "start_command",
    "restart_command",
    "filter_rules_needed",
    "shortcut_section",
    "custom_php_validation_command",
    "custom_php_resync_config_command",
    "custom_php_install_command",
    "custom_php_deinstall_command",
    "custom_php_pre_deinstall_command",
    "custom_php_global_functions",
    "custom_php_command_before_form",
    "custom_php_after_form_command",
    "custom_php_after_head_command",
    "custom_add_php_command",
    "custom_add_php_command_late",
    "custom_delete_php_command",
    "plugins",
    "item",  # <plugins><item><type>plugin_gateway</type></item></plugins>
    "ramdisk_dir_names",
    # <menu>
    "menu",
    "tooltiptext",
    "section",
    "url",
    "configfile",
    # <service>
    "service",
    "rcfile",
    "executable",
    "prefix",
    "startcmd",
    "stopcmd",
    "restartcmd",
    "custom_php_service_status_command",
    "starts_on_sync",
    # <tabs>
    "tabs",
    "tab",
    "text",
    "active",
    "xml",
    "tab_level",
    # <fields>
    "fields",
    "field",
    "fielddescr",
    "fieldname",
    "type",
    "size",
    "required",
    "default_value",
    "options",
    "option",
    "value",
    "source",
    "source_name",
    "source_value",
    "show_disable_value",
    "multiple",
    "rows",
    "cols",
    "encoding",
    "enablefields",
    "checkenablefields",
    "advancedfield",
    "combinefields",
    "hideinterfaceregex",
    "sethelp",
    "width",
    "wrap",
    "onchange",
    "showips",
    "showlistenall",
    "showvirtualips",
    "typealiases",
    "buttonclass",
    "buttonicon",
    "collapse",
    "rowhelper",
    "rowhelperfield",
}
# Field types pkg_edit.php renders (its `case "..."` labels) plus "listtopic" (section header).
FIELD_TYPES = {
    "input",
    "password",
    "info",
    "select",
    "select_source",
    "vpn_selection",
    "checkbox",
    "textarea",
    "aliases",
    "interfaces_selection",
    "radio",
    "button",
    "schedule_selection",
    "rowhelper",
    "listtopic",
}
# info.xml (<pfsensepkgs>): keys pkg-utils.inc / syslog.inc read from installedpackages/package.
INFO_ELEMENTS = {
    "pfsensepkgs",
    "package",
    "name",
    "internal_name",
    "descr",
    "website",
    "category",
    "version",
    "configurationfile",
    "maintainer",
    "after_install_info",
    "logging",
    "facilityname",
    "logfilename",
    "logowner",
    "logmode",
    "rotatecount",
    "logfilesize",
    "rotatetime",
    "rotateflags",
    "pidcmd",
    "signal",
    "logsocket",
}


@pytest.mark.parametrize("path", PHP_FILES, ids=lambda p: p.name)
def test_php_syntax(path):
    php = require_tool("php")
    r = subprocess.run([php, "-l", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("path", XML_FILES, ids=lambda p: p.name)
def test_xml_parses_and_uses_known_elements(path):
    root = ET.parse(path).getroot()
    allowed = PACKAGEGUI_ELEMENTS if root.tag == "packagegui" else INFO_ELEMENTS
    unknown = sorted({el.tag for el in root.iter()} - allowed)
    assert not unknown, f"{path.name}: elements pfSense does not know: {unknown}"
    for field in root.iter("field"):
        assert field.findtext("type") in FIELD_TYPES, ET.tostring(field)[:200]


def test_packagegui_wiring():
    root = ET.parse(FILES / "usr/local/pkg/s2s_agent.xml").getroot()
    assert root.findtext("include_file") == "/usr/local/pkg/s2s-agent.inc"
    assert root.findtext("name") == "s2sagent"  # -> installedpackages/s2sagent/config/0
    svc = root.find("service")
    # is_service_enabled(NAME) reads installedpackages/NAME/config/0/enable: same key
    assert svc.findtext("name") == "s2sagent" and svc.findtext("rcfile") == "s2s-agent.sh"
    # running = the agent's pid file, not "any daemon(8) on the box"
    assert svc.find("executable") is None
    assert "/var/run/s2s_agent.pid" in svc.findtext("custom_php_service_status_command")
    menus = root.findall("menu")
    assert {m.findtext("section") for m in menus} == {"VPN", "Status"}
    # pfSense 2.7.2's install_package_xml() keeps one menu per name
    assert len({m.findtext("name") for m in menus}) == len(menus)
    assert root.findtext("addedit_string").strip()  # Config History entry
    assert "s2s_agent_validate_post" in root.findtext("custom_php_validation_command")
    assert "s2s_agent_form_before" in root.findtext("custom_php_command_before_form")
    assert "s2s_agent_resync" in root.findtext("custom_php_resync_config_command")
    names = [f.findtext("fieldname") for f in root.iter("field") if f.findtext("fieldname")]
    assert len(names) == len(set(names))
    # a disabled configuration saves without any phase 1: nothing is <required/>
    assert not [f for f in root.iter("field") if f.find("required") is not None]
    by_name = {f.findtext("fieldname"): f for f in root.iter("field")}
    assert by_name["tunnel_name"].findtext("encoding") == "base64"
    enables = by_name["remediation"].findtext("enablefields").split(",")
    assert "client_secret" in enables and "tenant_id" in enables
    src = [f for f in root.iter("field") if f.findtext("fieldname") == "ikeid"][0]
    assert src.findtext("type") == "select_source" and "phase1" in src.findtext("source")
    secret = [f for f in root.iter("field") if f.findtext("fieldname") == "client_secret"][0]
    assert secret.findtext("type") == "password"
    tabs = [t.findtext("url") for t in root.iter("tab")]
    assert "/status_logs_packages.php?pkg=s2s-agent" in tabs
    inc = INC.read_text()
    form_inc = INC.with_name("s2s-agent-form.inc").read_text()
    for name in enables:  # every enablefields input is kept when not posted
        assert f"'{name}'" in form_inc, name
    for name in names:  # every field reaches the settings defaults
        assert f"'{name}' =>" in inc, name
    info = ET.parse(FILES / "usr/local/share/pfSense-pkg-s2s-agent/info.xml").getroot()
    assert info.findtext("package/configurationfile") == "s2s_agent.xml"
    assert info.findtext("package/logging/logfilename") == "s2s-agent.log"
    assert info.findtext("package/logging/facilityname") == "s2s-agent"


# --- PHP logic against the stand-ins ---------------------------------------------------


def test_resync_writes_yaml_secret_and_rc(tmp_path):
    out = run_harness(tmp_path, "resync", GOOD)
    conf = yaml.safe_load((tmp_path / "s2s-agent.yaml").read_text())
    assert conf["tunnels"] == [
        {
            "name": "azure-hq",
            "ike": "con1",
            "children": ["con1"],
            "probe": {"source": "192.168.1.1", "target": "10.1.10.4", "count": 3, "timeout": 2},
        }
    ]
    assert conf["agent"]["interval"] == 15
    assert conf["strongswan"]["swanctl"] == "/usr/local/sbin/swanctl"
    assert conf["azure"]["client_secret_file"] == f"{tmp_path}/s2s-agent/azure-secret"
    assert conf["azure"]["client_certificate_file"] is None
    assert conf["wan"]["interface"] == "igb0"
    assert conf["pfsense"]["ikeid"] == 1
    assert "s3cr3t" not in (tmp_path / "s2s-agent.yaml").read_text()
    secret = tmp_path / "s2s-agent" / "azure-secret"
    assert secret.read_text() == "s3cr3t-value"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "s2s-agent").stat().st_mode) == 0o700
    # not running yet: started through the package's own rc file
    assert [c[0] for c in out["calls"]] == ["write_rcfile", "mwexec", "log_error"]
    rc = out["calls"][0][1]
    assert rc["file"] == "s2s-agent.sh" and rc["start"].endswith("s2s_agent onestart")
    assert out["calls"][1][1] == f"'{tmp_path}/rc.d/s2s-agent.sh' start"
    assert "s2s_agent onestart" in (tmp_path / "rc.d" / "s2s-agent.sh").read_text()


def service_calls(out: dict) -> list:
    return [c for c in out["calls"] if c[0] in ("mwexec", "mwexec_bg", "sigkillbypid")]


def agent_running(tmp_path: Path) -> None:
    """The agent's pid file names a live process (this test process)."""
    (tmp_path / "s2s_agent.pid").write_text(f"{os.getpid()}\n")


def test_resync_with_nothing_changed_leaves_a_running_agent_alone(tmp_path):
    """rc.newwanip -> rc.start_packages -> sync_package runs the resync on every WAN
    address change: it must not restart (or signal) the agent when nothing changed."""
    run_harness(tmp_path, "resync", GOOD)
    agent_running(tmp_path)
    for _ in range(2):
        out = run_harness(tmp_path, "resync", GOOD)
        assert service_calls(out) == []


def test_resync_reloads_with_sighup_when_only_the_config_changed(tmp_path):
    run_harness(tmp_path, "resync", GOOD)
    agent_running(tmp_path)
    out = run_harness(tmp_path, "resync", {**GOOD, "interval": "30"})
    assert service_calls(out) == [["sigkillbypid", f"{tmp_path}/s2s_agent.pid", "HUP"]]
    out = run_harness(tmp_path, "resync", {**GOOD, "interval": "30", "client_secret": "new"})
    assert service_calls(out) == [["sigkillbypid", f"{tmp_path}/s2s_agent.pid", "HUP"]]
    assert (tmp_path / "s2s-agent" / "azure-secret").read_text() == "new"


def test_resync_restarts_when_the_rc_file_changed(tmp_path):
    run_harness(tmp_path, "resync", GOOD)
    agent_running(tmp_path)
    (tmp_path / "rc.d" / "s2s-agent.sh").write_text("#!/bin/sh\n# older version\n")
    out = run_harness(tmp_path, "resync", GOOD)
    rc = f"'{tmp_path}/rc.d/s2s-agent.sh'"
    assert service_calls(out) == [["mwexec", f"{rc} stop"], ["mwexec", f"{rc} start"]]


def test_service_action_decision_table(tmp_path):
    php = require_tool("php")
    cases = {  # (enabled, running, rc_changed, files_changed) -> action
        (False, False, False, False): "none",
        (False, True, True, True): "stop",
        (True, False, False, False): "start",
        (True, False, True, True): "start",
        (True, True, True, False): "restart",
        (True, True, False, True): "reload",
        (True, True, False, False): "none",
    }
    for args, want in cases.items():
        code = (
            f"set_include_path({json.dumps(str(STUBS))}); require_once('config.inc');"
            f"require_once({json.dumps(str(INC))});"
            f"echo s2s_agent_service_action({', '.join(json.dumps(a) for a in args)});"
        )
        r = subprocess.run([php, "-r", code], capture_output=True, text=True, timeout=60)
        assert r.stdout == want, (args, r.stdout, r.stderr)


def test_install_starts_the_service_before_pfsense_registers_it(tmp_path):
    """install_package_xml() runs <custom_php_install_command> before it adds <service>:
    the package starts its agent itself, and drops what older versions registered."""
    extra = {
        "installedpackages": {
            "s2sagent": {"config": [GOOD]},
            "service": [
                {"name": "s2s-agent", "rcfile": "s2s-agent.sh", "executable": "daemon"},
                {"name": "other"},
            ],
            "menu": [
                {"name": "s2s-agent", "section": "VPN"},
                {"name": "s2s-agent", "section": "Status"},
            ],
        }
    }
    out = run_harness(tmp_path, "install", GOOD, extra=extra)
    assert ["mwexec", f"'{tmp_path}/rc.d/s2s-agent.sh' start"] in out["calls"]
    pkgs = out["config"]["installedpackages"]
    assert [s["name"] for s in pkgs["service"]] == ["other"]
    assert pkgs["menu"] == [{"name": "s2s-agent", "section": "VPN"}]
    assert (tmp_path / "db").is_dir()


def test_resync_on_a_carp_vip_writes_the_carp_settings(tmp_path):
    """A phase 1 on a CARP VIP (interface _vip<uniqid>): only the MASTER may remediate."""
    config = pytest.importorskip("s2s_agent.config")
    phase1 = [{**PHASE1[0], "interface": "_vip5f3a1b2c4d5e6"}, PHASE1[1]]
    vips = {
        "vip": [
            {"mode": "ipalias", "interface": "lan", "uniqid": "111"},
            {"mode": "carp", "interface": "wan", "vhid": "7", "uniqid": "5f3a1b2c4d5e6"},
        ]
    }
    run_harness(tmp_path, "resync", GOOD, extra={"ipsec": {"phase1": phase1}, "virtualip": vips})
    conf = yaml.safe_load((tmp_path / "s2s-agent.yaml").read_text())
    assert conf["remediation"]["carp_interface"] == "igb0"
    assert conf["remediation"]["carp_vhid"] == 7
    cfg = config.load(str(tmp_path / "s2s-agent.yaml"))
    assert (cfg.remediation.carp_interface, cfg.remediation.carp_vhid) == ("igb0", 7)
    run_harness(tmp_path, "resync", GOOD)  # a plain WAN phase 1: no CARP keys
    assert "carp_vhid" not in (tmp_path / "s2s-agent.yaml").read_text()


def test_resync_yaml_is_accepted_by_the_agent(tmp_path):
    config = pytest.importorskip("s2s_agent.config")
    run_harness(tmp_path, "resync", {**GOOD, "remediation": ""})
    cfg = config.load(str(tmp_path / "s2s-agent.yaml"))
    assert cfg.tunnels[0].ike == "con1"


def test_resync_yaml_quotes_hostile_text(tmp_path):
    run_harness(tmp_path, "resync", {**GOOD, "tunnel_name": 'x: "y"\n- z #', "remediation": ""})
    conf = yaml.safe_load((tmp_path / "s2s-agent.yaml").read_text())
    assert conf["tunnels"][0]["name"] == 'x: "y"\n- z #'
    assert "azure" not in conf


def test_certificate_auth_writes_pem_and_removes_secret(tmp_path):
    run_harness(tmp_path, "resync", GOOD)
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    settings = {
        **GOOD,
        "auth_method": "certificate",
        "client_certificate": base64.b64encode(pem.encode()).decode(),
    }
    run_harness(tmp_path, "resync", settings)
    cert = tmp_path / "s2s-agent" / "azure-cert.pem"
    assert cert.read_text() == pem and stat.S_IMODE(cert.stat().st_mode) == 0o600
    assert not (tmp_path / "s2s-agent" / "azure-secret").exists()


def test_disabled_resync_stops_the_service(tmp_path):
    out = run_harness(tmp_path, "resync", {**GOOD, "enable": ""})
    assert service_calls(out) == []  # not running: nothing to stop
    assert not (tmp_path / "s2s-agent.yaml").exists()
    run_harness(tmp_path, "resync", GOOD)
    agent_running(tmp_path)
    out = run_harness(tmp_path, "resync", {**GOOD, "enable": ""})
    assert service_calls(out) == [["mwexec", f"'{tmp_path}/rc.d/s2s-agent.sh' stop"]]
    assert not (tmp_path / "rc.d" / "s2s-agent.sh").exists()


def test_validation_accepts_good_input(tmp_path):
    assert run_harness(tmp_path, "validate", arg=GOOD)["result"] == []


@pytest.mark.parametrize(
    ("change", "label"),
    [
        ({"ikeid": "9"}, "Tunnel to watch:"),
        ({"interval": "0"}, "Check interval:"),
        ({"probe_source": "not-an-ip"}, "Probe source:"),
        ({"probe_target": ""}, "Probe source:"),
        ({"children": "con1 bad/name"}, "Child SA names:"),
        ({"tenant_id": "nope"}, "Tenant ID:"),
        ({"client_secret": ""}, "Client secret:"),
        ({"resource_group": "bad group!"}, "Resource group:"),
        ({"wan_source": "http", "http_endpoints": "http://plain.example/"}, "HTTP endpoints:"),
        ({"wan_source": "http", "http_endpoints": "https://a.example/"}, "HTTP endpoints:"),
        (
            {"wan_source": "http", "http_endpoints": "https://a.example/\nhttps://a.example/"},
            "HTTP endpoints:",
        ),
        (
            {
                "wan_source": "http",
                "http_endpoints": "https://a.example/\nhttps://b.example/",
                "quorum": "3",
            },
            "Quorum:",
        ),
        ({"quorum": "1"}, "Quorum:"),
        ({"hold_seconds": "7200"}, "Hold time:"),
        ({"max_writes_per_hour": "500"}, "Azure writes per hour:"),
    ],
)
def test_validation_names_the_bad_field(tmp_path, change, label):
    errors = run_harness(tmp_path, "validate", arg={**GOOD, **change})["result"]
    assert errors and all(isinstance(e, str) for e in errors)
    assert any(e.startswith(label) for e in errors), errors


def test_phase1_options(tmp_path):
    opts = run_harness(tmp_path, "phase1")["result"]
    assert opts[0] == {"ikeid": "1", "descr": "con1: Azure HQ (198.51.100.1)"}
    assert [o["ikeid"] for o in opts] == ["1", "2"]


def test_yaml_writer_is_split_out_and_files_stay_small():
    yaml_inc = INC.with_name("s2s-agent-yaml.inc")
    assert "function s2s_agent_build_config(" in yaml_inc.read_text()
    assert "function s2s_agent_build_config(" not in INC.read_text()
    assert "require_once(__DIR__ . '/s2s-agent-yaml.inc');" in INC.read_text()
    for path in PHP_FILES:
        assert len(path.read_text().splitlines()) <= 400, path


def test_port_makefile_has_the_required_variables():
    text = (PORT / "Makefile").read_text()
    for var in (
        "PORTNAME=",
        "PORTVERSION=",
        "CATEGORIES=",
        "MAINTAINER=",
        "COMMENT=",
        "LICENSE=",
        "USES=\t\tpython:3.11,run",
        "NO_BUILD=",
        "SUB_FILES=",
        "do-install:",
    ):
        assert var in text, var
    # python311 is the only dependency: the Python libraries ship inside the package
    assert "RUN_DEPENDS" not in text and "PYTHON_PKGNAMEPREFIX" not in text


@pytest.mark.parametrize("page", ["status_s2s_agent.php", "widgets/widgets/s2s_agent.widget.php"])
def test_status_page_and_widget_render_escaped(tmp_path, page):
    r = render_page(tmp_path, page, f"#!/bin/sh\ncat <<'JSON'\n{json.dumps(STATUS)}\nJSON\n")
    assert r.returncode == 0, r.stdout + r.stderr
    html = r.stdout
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "label-warning" in html and "DEGRADED" in html
    if page.startswith("status"):
        assert "a&lt;b&gt;&amp;c" in html and "&lt;i&gt;x&lt;/i&gt;" in html
        assert "update_lng ok (2 s)" in html or "update_lng ok (2.0 s)" in html
        assert "Azure writes (last hour)" in html and "tunnel UP: nothing to do" in html
        assert "2.0 KiB" in html and "01:02:05" in html and "INSTALLED" in html
    else:
        assert "Last remediation" in html and "&lt;i&gt;x&lt;/i&gt;" in html and "Connected" in html


def test_status_page_reports_agent_failure(tmp_path):
    r = render_page(
        tmp_path, "status_s2s_agent.php", "#!/bin/sh\necho 'cannot reach <daemon>' >&2\nexit 3\n"
    )
    assert r.returncode == 0, r.stderr
    assert "alert-danger" in r.stdout and "exit 3" in r.stdout
    assert "cannot reach &lt;daemon&gt;" in r.stdout


@pytest.mark.parametrize("page", ["status_s2s_agent.php", "widgets/widgets/s2s_agent.widget.php"])
def test_a_warning_on_stderr_does_not_spoil_the_json(tmp_path, page):
    script = (
        f"#!/bin/sh\necho 's2s-agent: warning: x' >&2\ncat <<'JSON'\n{json.dumps(STATUS)}\nJSON\n"
    )
    r = render_page(tmp_path, page, script)
    assert "status failed" not in r.stdout and "DEGRADED" in r.stdout, r.stdout[-500:]


@pytest.mark.parametrize("page", ["status_s2s_agent.php", "widgets/widgets/s2s_agent.widget.php"])
def test_an_agent_that_does_not_answer_falls_back_to_the_saved_state(tmp_path, page):
    """The command is killed at S2S_AGENT_STATUS_TIMEOUT; the page shows state.json."""
    saved = {**STATUS, "tunnels": [{**STATUS["tunnels"][0], "name": "saved-tunnel"}]}
    (tmp_path / "state.json").write_text(json.dumps({"version": 1, "saved": 0, "status": saved}))
    r = render_page(tmp_path, page, "#!/bin/sh\nexec sleep 120\n")
    assert r.returncode == 0, r.stderr
    assert "saved-tunnel" in r.stdout and "saved state" in r.stdout, r.stdout[-800:]


def test_no_answer_and_no_saved_state_says_so(tmp_path):
    r = render_page(tmp_path, "status_s2s_agent.php", "#!/bin/sh\nexec sleep 120\n")
    assert "did not answer within 2 s" in r.stdout and "alert-danger" in r.stdout
