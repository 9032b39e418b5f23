#!/usr/bin/env python3
"""Drive the s2s-agent pfSense package through pfSense's own entry points, running pfSense's
real PHP (a checkout of github.com/pfsense/pfsense: RELENG_2_7_2, master) in a chroot.

usage: drive.py PFSENSE_CHECKOUT PROJECT_DIR WORK_DIR      (root; unshare, chroot, php-cli)

Real pfSense code used from the checkout: rc.packages, rc.start_packages,
rc.package_reinstall_all, pkg_edit.php, guiconfig.inc (with its Form classes),
config.inc, config.lib.inc, xmlparse.inc, util.inc, service-utils.inc, pkg-utils.inc,
pfsense-utils.inc, notices.inc, globals.inc. Stubs (./stubs) only replace what needs
FreeBSD (ipsec.inc, functions.inc, filter.inc, gwlb.inc, authgui.inc, head/foot.inc, the
pfSense PHP extension) and fakes (./fakes) stand in for charon/swanctl, pkg-static, the
agent and its rc.d script. Prints PASS/FAIL per check; exit 1 when one failed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402
import multi  # noqa: E402
import refresh  # noqa: E402
import rename  # noqa: E402
from harness import (  # noqa: E402
    HERE,
    PEM,
    RESULTS,
    SECRET,
    SETTINGS,
    check,
    clear_rclog,
    config,
    get_form,
    php,
    pkgcfg,
    rclog,
    read,
    rpath,
    running,
    save,
    service_state,
    web,
    write,
)


def install_and_first_save() -> None:
    r = php("-f", "/etc/rc.packages", "s2s-agent", "POST-INSTALL")
    check("install: rc.packages POST-INSTALL exits 0", r.returncode == 0, r.stderr[-500:])
    cfg = config()
    menus = [
        (m.findtext("name"), m.findtext("section")) for m in cfg.findall("installedpackages/menu")
    ]
    sections = {s for n, s in menus if n and n.startswith("s2s-agent")}
    check("install: both menus kept (VPN and Status)", sections == {"VPN", "Status"}, menus)
    svcs = [s.findtext("name") for s in cfg.findall("installedpackages/service")]
    check("install: service registered as s2sagent", svcs == ["s2sagent"], svcs)
    check("install: nothing started while disabled", "start" not in rclog(), rclog())

    clear_rclog()
    r, errors, _ = save(SETTINGS)
    check(
        "save: accepted (no input errors; Connection may be empty)",
        not errors and r.returncode == 0,
        f"{errors} {r.stderr[-800:]}",
    )
    s = pkgcfg()
    want = base64.b64encode("Zürich Büro".encode()).decode()
    check("save: tunnel name stored base64 in config.xml", s.get("tunnel_name") == want, s)
    code = (
        'require_once("config.inc"); $c = parse_xml_config("/cf/conf/config.xml", "pfsense");'
        ' echo is_array($c) && isset($c["installedpackages"]["s2sagent"]) ? "OK" : "BROKEN";'
    )
    r2 = php("-r", code)
    check(
        "save: config.xml written by pfSense's writer parses again (parse_xml_config)",
        r2.stdout.strip().endswith("OK") and "&uuml;" not in read("/cf/conf/config.xml"),
        r2.stdout[-300:] + r2.stderr[-300:],
    )
    rev = config().findtext("revision/description")
    check("save: Config History entry is the addedit_string", rev and "s2s-agent" in rev, rev)
    yaml_text = read("/usr/local/etc/s2s-agent.yaml")
    check(
        "save: YAML written with the UTF-8 tunnel name",
        '"Zürich Büro"' in yaml_text,
        yaml_text[:300],
    )
    check("save: secret file written", read("/usr/local/etc/s2s-agent/azure-secret") == SECRET)
    check("save: service started", rclog() == ["start"] and running(), rclog())


def secrets_and_toggle() -> None:
    html, form, _ = get_form()
    check("GET: stored secret not in the page", SECRET not in html)
    check(
        "GET: password field shows DMYPWD",
        form.fields["client_secret"]["value"] == "********",
        form.fields["client_secret"],
    )

    clear_rclog()
    for _ in range(2):  # rc.newwanip -> "service reload packages" -> rc.start_packages
        r = php("-f", "/etc/rc.start_packages")
    time.sleep(0.5)
    check(
        "rc.start_packages (WAN change) with nothing changed: no restart, no HUP",
        r.returncode == 0 and rclog() == [] and running(),
        f"{rclog()} {r.stderr[-500:]}",
    )

    clear_rclog()
    r, errors, post = save({})
    time.sleep(0.5)
    check(
        "save unchanged (DMYPWD posted back): secret kept",
        not errors
        and post.get("client_secret") == "********"
        and pkgcfg().get("client_secret") == SECRET,
        f"{errors} {pkgcfg().get('client_secret')!r}",
    )
    check("save unchanged: service not restarted", "stop" not in rclog() and running(), rclog())

    write("/var/run/fake-agent-refuse", "")
    r, errors, _ = save({"interval": "30"})
    rpath("/var/run/fake-agent-refuse").unlink()
    check(
        "save: the agent's validate-config refusal is shown and nothing is saved",
        errors
        == [
            "Settings: the agent refuses the configuration these settings produce: "
            "the generated s2s-agent.yaml: agent.interval: refused by the fake agent"
        ]
        and pkgcfg().get("interval") != "30"
        and "refused by the fake agent" in r.stdout
        and "validate-config --without-credential-file -c" in read("/var/log/fake-agent-calls.log"),
        errors,
    )
    clear_rclog()
    r, errors, _ = save({"interval": "20"})
    time.sleep(0.8)
    check(
        "save with a changed interval: SIGHUP (reload), no restart",
        rclog() == ["hup"] and running(),
        f"{errors} {rclog()}",
    )

    before = pkgcfg()
    r, errors, post = save({"remediation": False})
    after = pkgcfg()
    keys = [
        "tenant_id",
        "client_id",
        "subscription_id",
        "resource_group",
        "local_network_gateway",
        "client_secret",
        "cloud",
        "auth_method",
    ]
    check(
        "Update Azure unchecked: browser did not post the disabled inputs",
        "tenant_id" not in post and "client_secret" not in post,
        sorted(post),
    )
    check(
        "Update Azure unchecked: Azure settings kept in config.xml",
        not errors and all(after.get(k) == before.get(k) for k in keys),
        {k: (before.get(k), after.get(k)) for k in keys},
    )
    r, errors, post = save({"remediation": True})
    check(
        "Update Azure checked again: saves with the kept settings",
        not errors and pkgcfg().get("client_secret") == SECRET,
        errors,
    )

    r, errors, _ = save({"ikeid": "3", "client_secret": ""})
    check(
        "validation error re-render does not show the stored secret",
        SECRET not in r.stdout and errors,
        errors,
    )
    text = read("/cf/conf/config.xml")
    write(
        "/cf/conf/config.xml",
        text.replace(
            "<ikeid>2</ikeid>\n\t\t\t<iketype>",
            "<ikeid>2</ikeid>\n\t\t\t<disabled></disabled>\n\t\t\t<iketype>",
            1,
        ),
    )
    rpath("/tmp/config.cache").unlink(missing_ok=True)
    r, errors, _ = save({"ikeid": "2"})
    check(
        "validation: a disabled phase 1 is rejected",
        errors and any("disabled" in e for e in errors),
        errors,
    )

    write("/var/run/fake-python-mode", "nocrypto")  # python3.11 without cryptography
    r, errors, _ = save({"auth_method": "certificate", "client_certificate": PEM, "ikeid": "1"})
    rpath("/var/run/fake-python-mode").unlink()
    check(
        "certificate without cryptography: Save refused, says what to install",
        errors
        and any("py311-cryptography (security/py-cryptography)" in e for e in errors)
        and pkgcfg().get("auth_method") == "secret"
        and "py311-cryptography" in r.stdout,
        errors,
    )
    r, errors, _ = save({"auth_method": "certificate", "client_certificate": PEM, "ikeid": "1"})
    html, form, _ = get_form()
    check(
        "certificate saved; private key not in the page",
        not errors
        and "MIIEprivkeyDONOTLEAK" not in html
        and form.fields["client_certificate"]["value"].strip() == "********",
        errors,
    )
    r, errors, _ = save({})
    stored = base64.b64decode(pkgcfg().get("client_certificate", "")).decode()
    check(
        "certificate kept through a save with the placeholder",
        stored.strip() == PEM.strip(),
        errors,
    )
    save({"auth_method": "secret", "ikeid": "1"})


def services_and_reinstall() -> None:
    st = service_state()
    want = {"found": True, "enabled": True, "running": True, "start_button": False}
    check("services: enabled + running while enabled", st == want, st)
    clear_rclog()
    save({"enable": False})
    time.sleep(0.3)
    st = service_state()
    want = {"found": True, "enabled": False, "running": False, "start_button": False}
    check(
        "services: disabled package is not enabled, stopped, no Start button",
        st == want and rclog() == ["stop"],
        f"{st} {rclog()}",
    )
    php("-f", "/etc/rc.start_packages")
    check(
        "rc.start_packages with the package disabled: nothing started",
        "start" not in rclog() and not running(),
        rclog(),
    )

    save({"enable": True})
    php("-f", "/etc/rc.packages", "s2s-agent", "DEINSTALL")
    php("-f", "/etc/rc.packages", "s2s-agent", "POST-DEINSTALL")
    check(
        "deinstall: stopped, service and menus removed",
        not running()
        and not config().findall("installedpackages/service")
        and not config().findall("installedpackages/menu"),
    )
    check("deinstall: settings stay in config.xml", pkgcfg().get("client_secret") == SECRET)
    clear_rclog()
    php("-f", "/etc/rc.packages", "s2s-agent", "POST-INSTALL")
    check(
        "reinstall with saved settings: service started", running() and "start" in rclog(), rclog()
    )


def upgrade() -> None:
    """An upgrade as FreeBSD's real pkg(8) 2.8 runs it (tests/pkg/test_pkg8.py asserts the
    order): the old package's DEINSTALL (PKG_UPGRADE=true; its files still there), the new
    files, the new POST-INSTALL. No POST-DEINSTALL: the package entry stays in config.xml."""
    save({"enable": True})
    clear_rclog()
    if not running():
        php("-f", "/etc/rc.start_packages")
    before = pkgcfg()
    yaml_before = read("/usr/local/etc/s2s-agent.yaml")
    write("/var/log/s2s-agent.log", "Nov 30 04:00:00 fw s2s-agent[1]: tunnel azure UP\n")
    clear_rclog()
    r1 = php("-f", "/etc/rc.packages", "s2s-agent", "DEINSTALL")
    mid_stopped = not running()
    r2 = php("-f", "/etc/rc.packages", "s2s-agent", "POST-INSTALL")
    cfg = config()
    check(
        "upgrade: DEINSTALL then POST-INSTALL exit 0",
        r1.returncode == r2.returncode == 0,
        r1.stderr[-300:] + r2.stderr[-300:],
    )
    check(
        "upgrade: stopped by the old DEINSTALL, started by the new POST-INSTALL",
        mid_stopped and running() and rclog()[-1:] == ["start"],
        rclog(),
    )
    pkgs = [p.findtext("name") for p in cfg.findall("installedpackages/package")]
    check("upgrade: one package entry", pkgs.count("s2s-agent") == 1, pkgs)
    menus = sorted(
        (m.findtext("name") or "", m.findtext("section") or "")
        for m in cfg.findall("installedpackages/menu")
    )
    check(
        "upgrade: both menus present, once each",
        menus == [("s2s-agent", "VPN"), ("s2s-agent tunnels", "Status")],
        menus,
    )
    svcs = [s.findtext("name") for s in cfg.findall("installedpackages/service")]
    check("upgrade: service registered once", svcs == ["s2sagent"], svcs)
    check(
        "upgrade: settings kept in config.xml",
        pkgcfg() == before,
        {k: (before.get(k), v) for k, v in pkgcfg().items() if before.get(k) != v},
    )
    check(
        "upgrade: secret file and YAML written again from the saved settings",
        read("/usr/local/etc/s2s-agent/azure-secret") == SECRET
        and read("/usr/local/etc/s2s-agent.yaml") == yaml_before,
    )
    check(
        "upgrade: the package's log file keeps its lines (pfSense keeps log data)",
        "tunnel azure UP" in read("/var/log/s2s-agent.log"),
    )
    rc = read("/usr/local/etc/rc.d/s2s-agent.sh")
    check("upgrade: pfSense rc file back (boot start)", "s2s_agent onestart" in rc, rc[-300:])
    st = service_state()
    want = {"found": True, "enabled": True, "running": True, "start_button": False}
    check("upgrade: Status > Services says enabled + running", st == want, st)
    clear_rclog()
    php("-f", "/etc/rc.start_packages")
    check(
        "upgrade: the next WAN change (rc.start_packages) neither restarts nor HUPs",
        rclog() == [] and running(),
        rclog(),
    )

    save({"enable": False})
    clear_rclog()
    php("-f", "/etc/rc.packages", "s2s-agent", "DEINSTALL")
    php("-f", "/etc/rc.packages", "s2s-agent", "POST-INSTALL")
    menus = [m.findtext("section") for m in config().findall("installedpackages/menu")]
    check(
        "upgrade while disabled: not started, menus and service back, settings kept",
        not running()
        and "start" not in rclog()
        and sorted(menus) == ["Status", "VPN"]
        and [s.findtext("name") for s in config().findall("installedpackages/service")]
        == ["s2sagent"]
        and pkgcfg().get("client_secret") == SECRET,
        f"{rclog()} {menus}",
    )
    save({"enable": True})


def apply_myid() -> None:
    write("/var/run/ipsec.dirty", "DIRTY")  # an admin left IPsec edits unapplied
    php("-r", 'require_once("config.inc"); require_once("ipsec.inc"); ipsec_configure();')
    time.sleep(2.5)
    os.environ["FAKE_RELOAD_DELAY"] = "2"  # strongswanrc reload takes 2 s in the background
    t0 = time.time()
    r = php("/usr/local/libexec/s2s-agent/apply-myid.php", "--ikeid", "1", "--ip", "203.0.113.9")
    took = time.time() - t0
    loaded = json.loads(read("/var/run/fake-charon.json") or "{}")
    out = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
    check(
        "apply-myid: exit 0, changed",
        r.returncode == 0 and out.get("changed") is True,
        r.stdout + r.stderr[-500:],
    )
    check(
        "apply-myid: strongSwan has the new id when it returns",
        loaded.get("con1") == "203.0.113.9",
        f"{loaded} after {took:.1f}s",
    )
    calls = read("/var/log/harness-calls.log")
    check(
        "apply-myid: ipsec_configure + ipsec_reload_package_hook",
        "ipsec_reload_package_hook" in calls,
        calls,
    )
    check(
        "apply-myid: pending IPsec edits applied, dirty flag cleared, reported",
        not rpath("/var/run/ipsec.dirty").exists() and out.get("pending_applied") is True,
        out,
    )
    ids = [
        p.findtext("myid_data")
        for p in config().findall("ipsec/phase1")
        if p.findtext("ikeid") == "1"
    ]
    check("apply-myid: config.xml has the new identifier", ids == ["203.0.113.9"], ids)
    r = php("/usr/local/libexec/s2s-agent/apply-myid.php", "--ikeid", "1", "--ip", "2001:db8::9")
    check(
        "apply-myid: IPv6 address refused for an inet phase 1",
        r.returncode == 1 and "inet" in r.stdout,
        r.stdout,
    )
    r = php("/usr/local/libexec/s2s-agent/apply-myid.php", "--ikeid", "1", "--ip", "203.0.113.9")
    check(
        "apply-myid: same address again -> changed false, exit 0",
        r.returncode == 0 and '"changed":false' in r.stdout,
        r.stdout,
    )


def apply_myids() -> None:
    """apply-myid.php --set for several phase 1s: ONE write_config (one Config History entry
    naming them all: real config.lib.inc), one ipsec_configure; a bad phase 1 fails alone."""
    text = read("/cf/conf/config.xml")
    block = re.search(r"\t*<phase1>.*?</phase1>\n", text, flags=re.S).group(0)
    assert "<ikeid>1</ikeid>" in block
    was = re.search(r"<myid_data>([^<]*)</myid_data>", block).group(1)
    extra = ""
    for ikeid, more in ((5, ""), (6, ""), (7, "<disabled></disabled>")):
        extra += block.replace("<ikeid>1</ikeid>", f"<ikeid>{ikeid}</ikeid>{more}")
    write("/cf/conf/config.xml", text.replace(block, block + extra, 1))
    rpath("/tmp/config.cache").unlink(missing_ok=True)
    php("-r", 'require_once("config.inc"); require_once("ipsec.inc"); ipsec_configure();')
    time.sleep(2.5)  # the fake strongswanrc reload (background) has loaded con5..con6

    def backups() -> list[str]:
        return sorted(p.name for p in rpath("/cf/conf/backup").glob("config-*.xml"))

    def myids() -> dict:
        return {
            p.findtext("ikeid"): p.findtext("myid_data") for p in config().findall("ipsec/phase1")
        }

    def run(*sets: str):
        args = [a for s in sets for a in ("--set", s)]
        r = php("/usr/local/libexec/s2s-agent/apply-myid.php", *args)
        lines = r.stdout.strip().splitlines()
        return r, (json.loads(lines[-1]) if lines else {})

    helper_calls = len(read("/var/log/harness-calls.log").splitlines())
    before = backups()
    r, out = run("1=203.0.113.20", "5=203.0.113.20", "6=203.0.113.20")
    new = [b for b in backups() if b not in before]
    desc = config().findtext("revision/description") or ""
    check(
        "apply-myid --set x3: exit 0, every phase 1 changed",
        r.returncode == 0
        and [(x["ikeid"], x["changed"], x["error"]) for x in out.get("results", [])]
        == [(1, True, None), (5, True, None), (6, True, None)],
        r.stdout + r.stderr[-500:],
    )
    check(
        "apply-myid --set x3: ONE write_config (one new Config History entry naming 1, 5, 6)",
        len(new) == 1 and all(f"phase 1 {i} " in desc for i in (1, 5, 6)),
        f"{new} {desc!r}",
    )
    calls = read("/var/log/harness-calls.log").splitlines()[helper_calls:]
    check(
        "apply-myid --set x3: one ipsec_configure, one package hook",
        calls == ["ipsec_configure", "ipsec_reload_package_hook"],
        calls,
    )
    loaded = json.loads(read("/var/run/fake-charon.json") or "{}")
    check(
        "apply-myid --set x3: charon has every new id when it returns",
        all(loaded.get(f"con{i}") == "203.0.113.20" for i in (1, 5, 6)),
        loaded,
    )
    ids = myids()
    check(
        "apply-myid --set x3: config.xml has them",
        [ids.get(i) for i in ("1", "5", "6")] == ["203.0.113.20"] * 3,
        ids,
    )

    before = backups()
    r, out = run("1=203.0.113.21", "7=203.0.113.21", "5=203.0.113.21", "9=203.0.113.21")
    res = {x["ikeid"]: x for x in out.get("results", [])}
    new = [b for b in backups() if b not in before]
    ids = myids()
    check(
        "apply-myid --set with a disabled and a missing phase 1: exit 1, those two fail alone",
        r.returncode == 1
        and res.get(1, {}).get("error") is None
        and res.get(5, {}).get("error") is None
        and "disabled" in (res.get(7, {}).get("error") or "")
        and "ikeid 9" in (res.get(9, {}).get("error") or ""),
        r.stdout + r.stderr[-500:],
    )
    check(
        "apply-myid --set with bad ones: the good ones applied in one write",
        len(new) == 1
        and (ids.get("1"), ids.get("5"), ids.get("7")) == ("203.0.113.21", "203.0.113.21", was),
        f"{new} {ids}",
    )


def status_pages() -> None:
    write("/var/run/fake-agent-mode", "ok")
    r, _ = web("status_s2s_agent.php")
    check(
        "status page: stderr warning does not spoil the JSON",
        "Zürich" in r.stdout and "status failed" not in r.stdout,
        r.stdout[-600:] + r.stderr[-300:],
    )
    write("/var/run/fake-agent-mode", "hang")
    saved = {
        "version": 1,
        "source": "daemon",
        "agent": {},
        "tunnels": [{"name": "saved-tunnel", "ike": "con1", "health": "DOWN"}],
    }
    write(
        "/var/db/s2s-agent/state.json",
        json.dumps({"version": 1, "saved": time.time() - 30, "status": saved}),
    )
    t0 = time.time()
    r, _ = web("widgets/widgets/s2s_agent.widget.php")
    took = time.time() - t0
    check(
        f"widget: agent hangs -> saved state in {took:.1f}s (< 6 s)",
        took < 6 and "saved-tunnel" in r.stdout,
        r.stdout[-500:] + r.stderr[-300:],
    )


def restore() -> None:
    """A full config restore: backup.inc touches /conf/needs_package_sync and the box
    reboots; rc.bootup runs rc.package_reinstall_all (package_reinstall_all(), then
    rc.start_packages in the background). The repository does not carry the package."""
    clear_rclog()
    pid = read("/var/run/s2s_agent.pid").strip()
    if pid:  # the reboot: the agent is not running
        subprocess.run(["kill", pid], check=False)
        rpath("/var/run/s2s_agent.pid").unlink()
    write("/cf/conf/needs_package_sync", "")
    r = php("-f", "/etc/rc.package_reinstall_all", timeout=300)
    pkglog = read("/var/log/fake-pkg.log").splitlines()
    installed = json.loads(read("/var/db/fake-pkg-installed.json") or '["pfSense-pkg-s2s-agent"]')
    still = "pfSense-pkg-s2s-agent" in installed
    in_cfg = any(
        p.findtext("name") == "s2s-agent" for p in config().findall("installedpackages/package")
    )
    print(f"   restore: pkg-static calls: {pkglog[:12]}", flush=True)
    print(f"   restore: binary installed: {still}; registered: {in_cfg}; rc={r.returncode}")
    for _ in range(40):  # rc.start_packages runs in the background (mwexec_bg)
        if running():
            break
        time.sleep(0.5)
    check(
        "restore: package_reinstall_all leaves the package installed and registered",
        still and in_cfg,
        f"binary={still} config={in_cfg}",
    )
    check(
        "restore: rc.start_packages afterwards runs the resync (agent running)", running(), rclog()
    )


def legacy_name() -> None:
    """A Tunnel name stored as plain text by an older version (no base64 then)."""
    text = read("/cf/conf/config.xml")
    text = re.sub(r"<tunnel_name>[^<]*</tunnel_name>", "<tunnel_name>azure-hq</tunnel_name>", text)
    write("/cf/conf/config.xml", text)
    rpath("/tmp/config.cache").unlink(missing_ok=True)
    _, form, _ = get_form()
    check(
        "older version's plain Tunnel name shows as it is in the form",
        form.fields["tunnel_name"]["value"] == "azure-hq",
        form.fields["tunnel_name"],
    )
    php("-f", "/etc/rc.packages", "s2s-agent", "POST-INSTALL")  # the upgrade's install step
    check(
        "upgrade install re-encodes it as base64",
        pkgcfg().get("tunnel_name") == base64.b64encode(b"azure-hq").decode(),
        pkgcfg(),
    )


def no_phase1() -> None:
    """A disabled configuration saves on a box without any IPsec phase 1."""
    text = read("/cf/conf/config.xml")
    write("/cf/conf/config.xml", re.sub(r"\s*<phase1>.*?</phase1>", "", text, flags=re.S))
    rpath("/tmp/config.cache").unlink(missing_ok=True)
    r, errors, post = save({"enable": False})
    check(
        "no phase 1 at all: a disabled configuration saves",
        r.returncode == 0 and not errors and not config().findall("ipsec/phase1"),
        errors,
    )
    r, errors, post = save({"enable": True})
    check(
        "no phase 1 at all: enabling names the missing tunnel",
        errors and any(e.startswith("Tunnel to watch:") for e in errors),
        errors,
    )


def main() -> int:
    src, proj, work = sys.argv[1:4]
    ROOT = Path(work) / ("root-" + Path(src).name)
    steps = [
        install_and_first_save,
        secrets_and_toggle,
        services_and_reinstall,
        upgrade,
        apply_myid,
        apply_myids,
        refresh.refresh_myaddress,
        status_pages,
        restore,
        rename.restore_old_config,
        rename.install_over_old_registration,
        legacy_name,
        multi.several_tunnels,
        no_phase1,
        rename.delete_old_registration,  # last: leaves the package unregistered
    ]
    multi.PROJ = proj
    if os.environ.get("S2S_DRIVE_PKG8"):  # "PKG8_BINARY|DIR": the package comes from pkg(8)
        from pkg8flow import pkg8_flow

        ROOT = Path(work) / ("root-pkg8-" + Path(src).name)
        steps = [pkg8_flow]
    H.ROOT = ROOT
    subprocess.run([str(HERE / "mkroot.sh"), src, proj, str(ROOT)], check=True)
    if os.environ.get("S2S_DRIVE_PKG8"):  # the package's files come from pkg(8) only
        files = Path(proj) / "pkg/pfSense-pkg-s2s-agent/files/usr/local"
        for f in files.rglob("*"):
            if f.is_file():
                (ROOT / "local" / f.relative_to(files)).unlink(missing_ok=True)
        for f in ("etc/rc.d/s2s_agent", "bin/s2s-agent"):  # fakes: in the test's package
            (ROOT / "local" / f).unlink()
    rpath("/var/log").mkdir(parents=True, exist_ok=True)
    print(f"== pfSense {Path(src).name}: {read('/etc/version').strip()}")
    for step in steps:
        try:
            step()
        except Exception as exc:  # a broken step fails, the next ones still run
            check(f"{step.__name__}: ran to the end", False, repr(exc))
    bad = [n for n, ok in RESULTS if not ok]
    print(f"== {Path(src).name}: {len(RESULTS) - len(bad)}/{len(RESULTS)} passed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
