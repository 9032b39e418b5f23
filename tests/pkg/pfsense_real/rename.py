"""Steps of drive.py and pkg8flow.py: the package's configurationfile was "s2s-agent.xml" up to
0.1.0 and is "s2s_agent.xml" now (pfsense-utils.inc:pkg_call_plugins() calls
"<configurationfile minus .xml>_plugin_gateway"). What pfSense has after each way an old
registration meets the new files: checked against the REAL pkg-utils.inc."""

from __future__ import annotations

import re
import subprocess
import time
import xml.etree.ElementTree as ET

from harness import check, config, php, pkgcfg, read, rpath, running, web, write

NEW, OLD = "s2s_agent.xml", "s2s-agent.xml"
MENUS = [
    ("s2s-agent", "VPN", f"/pkg_edit.php?xml={NEW}&id=0"),
    ("s2s-agent tunnels", "Status", "/status_s2s_agent.php"),
]


def registration() -> dict:
    """The package's entry, menus and services in config.xml, as pfSense reads them."""
    cfg = config()
    pkgs = [
        p for p in cfg.findall("installedpackages/package") if p.findtext("name") == "s2s-agent"
    ]
    return {
        "entries": [
            {
                "configurationfile": p.findtext("configurationfile"),
                "plugins": [t.text for t in p.findall("plugins/item/type")],
            }
            for p in pkgs
        ],
        "menus": sorted(
            (m.findtext("name") or "", m.findtext("section") or "", m.findtext("url") or "")
            for m in cfg.findall("installedpackages/menu")
        ),
        "services": [s.findtext("name") for s in cfg.findall("installedpackages/service")],
    }


WANT = {
    "entries": [{"configurationfile": NEW, "plugins": ["plugin_gateway"]}],
    "menus": sorted(MENUS),
    "services": ["s2sagent"],
}


def old_registration(text: str) -> str:
    """config.xml ``text`` as 0.1.0 registered the package: configurationfile s2s-agent.xml,
    no <plugins>, the menu and the tabs on pkg_edit.php?xml=s2s-agent.xml."""
    text = re.sub(r"\s*<plugins>.*?</plugins>", "", text, flags=re.S)
    text = text.replace(
        f"<configurationfile>{NEW}</configurationfile>",
        f"<configurationfile>{OLD}</configurationfile>",
    )
    return text.replace(f"xml={NEW}", f"xml={OLD}").replace(
        "xml=s2s_agent_profiles.xml", "xml=s2s-agent-profiles.xml"
    )


def no_old_name() -> bool:
    """Nothing pfSense registered for packages (entries, their tabs, menus, services) names
    the old page."""
    pkgs = config().find("installedpackages")
    return pkgs is not None and OLD not in ET.tostring(pkgs, encoding="unicode")


def gui_reachable(how: str) -> None:
    r, _ = web("pkg_edit.php", "GET", f"xml={NEW}&id=0")
    check(
        f"{how}: the settings page answers under {NEW}",
        r.returncode == 0 and 'name="ikeid"' in r.stdout,
        r.stderr[-500:],
    )


def restore_old_config() -> None:
    """A full restore of a backup taken with 0.1.0 (its config.xml names s2s-agent.xml): on
    the reboot rc.bootup runs rc.package_reinstall_all (the repository does not carry the
    package), which runs rc.start_packages -> sync_package(). The registration must end up
    as a fresh install's, the agent running."""
    assert registration() == WANT, registration()
    settings = pkgcfg()
    pid = read("/var/run/s2s_agent.pid").strip()
    if pid:  # the reboot: the agent is not running
        subprocess.run(["kill", pid], check=False)
        rpath("/var/run/s2s_agent.pid").unlink()
    write("/cf/conf/config.xml", old_registration(read("/cf/conf/config.xml")))
    rpath("/tmp/config.cache").unlink(missing_ok=True)
    assert OLD in read("/cf/conf/config.xml")
    write("/cf/conf/needs_package_sync", "")
    r = php("-f", "/etc/rc.package_reinstall_all", timeout=300)
    for _ in range(40):  # rc.start_packages runs in the background (mwexec_bg)
        if running() and no_old_name():
            break
        time.sleep(0.5)
    reg = registration()
    check(
        "restore of a 0.1.0 config.xml: registered as s2s_agent.xml with plugin_gateway, "
        "menus on the new page, nothing names s2s-agent.xml",
        r.returncode == 0 and reg == WANT and no_old_name(),
        reg,
    )
    check("restore of a 0.1.0 config.xml: the agent runs", running(), reg)
    check("restore of a 0.1.0 config.xml: settings unchanged", pkgcfg() == settings)
    gui_reachable("restore of a 0.1.0 config.xml")
    r, _ = web("pkg_edit.php", "POST", f"xml={OLD}", {"xml": OLD, "id": "0", "enable": ""})
    check(
        f"an old bookmark (pkg_edit.php?xml={OLD}) shows no form and saves nothing",
        'name="ikeid"' not in r.stdout and pkgcfg() == settings and no_old_name(),
        r.stdout[-300:] + r.stderr[-300:],
    )


def install_over_old_registration() -> None:
    """`pkg add` of the new version over 0.1.0 (a forced install: the old DEINSTALL does not
    run): POST-INSTALL meets the old entry and the old menu of the same name."""
    write("/cf/conf/config.xml", old_registration(read("/cf/conf/config.xml")))
    rpath("/tmp/config.cache").unlink(missing_ok=True)
    r = php("-f", "/etc/rc.packages", "s2s-agent", "POST-INSTALL")
    reg = registration()
    check(
        "POST-INSTALL over a 0.1.0 registration: one entry on s2s_agent.xml, menus on the "
        "new page, nothing names s2s-agent.xml",
        r.returncode == 0 and reg == WANT and no_old_name(),
        reg,
    )


def delete_old_registration() -> None:
    """`pkg delete` right after a restore of an old config.xml, before any resync moved the
    registration: pfSense's delete_package_xml() reads the old configurationfile's menus and
    service (the small s2s-agent.xml lists them) and removes them with the entry."""
    write("/cf/conf/config.xml", old_registration(read("/cf/conf/config.xml")))
    rpath("/tmp/config.cache").unlink(missing_ok=True)
    settings = pkgcfg()
    r1 = php("-f", "/etc/rc.packages", "s2s-agent", "DEINSTALL")
    r2 = php("-f", "/etc/rc.packages", "s2s-agent", "POST-DEINSTALL")
    reg = registration()
    check(
        "pkg delete with an old registration: entry, menus and service removed, agent "
        "stopped, settings kept",
        r1.returncode == r2.returncode == 0
        and reg == {"entries": [], "menus": [], "services": []}
        and not running()
        and pkgcfg() == settings,
        reg,
    )
