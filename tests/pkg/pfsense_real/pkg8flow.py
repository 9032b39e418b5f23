"""FreeBSD's real pkg(8) into the real-pfSense chroot (drive.py runs this when
S2S_DRIVE_PKG8="PKG8_BINARY|DIR" is set; test_pfsense_real.py builds the packages in DIR)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import harness as H
import rename
from harness import (
    SECRET,
    SETTINGS,
    check,
    clear_rclog,
    config,
    pfsense_state,
    php,
    pkgcfg,
    rclog,
    read,
    rpath,
    running,
    save,
    service_state,
    write,
)


def pkg8(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """FreeBSD's real pkg(8) on ROOT (pkgroot.sh): the package scripts it runs chroot into
    ROOT and run pfSense's real rc.packages."""
    binary, _ = os.environ["S2S_DRIVE_PKG8"].split("|")
    argv = [str(H.HERE / "pkgroot.sh"), str(H.ROOT), binary, "FreeBSD:14:amd64", "1400094", *args]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


REGISTERED = {
    "packages": ["s2s-agent"],
    "services": ["s2sagent"],
    "menus": [("s2s-agent", "VPN"), ("s2s-agent tunnels", "Status")],
}
LOGLINE = "Nov 30 04:00:00 fw s2s-agent[1]: tunnel azure UP\n"


def pkg8_upgraded(
    how: str, r: subprocess.CompletedProcess, before: dict, yaml_before: str, pid_before: str
) -> None:
    """The pfSense side after a pkg(8) upgrade 0.1.0 -> 0.2.0 of a running, enabled agent."""
    check(
        f"pkg8 upgrade ({how}): exit 0, 0.2.0 installed",
        r.returncode == 0
        and pkg8("query", "%v", "pfSense-pkg-s2s-agent").stdout.strip() == "0.2.0",
        r.stdout[-800:] + r.stderr[-800:],
    )
    st = pfsense_state()
    check(f"pkg8 upgrade ({how}): registered once, both menus, service", st == REGISTERED, st)
    pid = read("/var/run/s2s_agent.pid").strip()
    check(
        f"pkg8 upgrade ({how}): stopped by the old DEINSTALL, running again (new process)",
        running() and pid != pid_before and rclog()[:1] == ["stop"] and rclog()[-1:] == ["start"],
        f"{rclog()} {pid_before}->{pid}",
    )
    check(
        f"pkg8 upgrade ({how}): settings kept, secret and YAML regenerated, log kept",
        pkgcfg() == before
        and read("/usr/local/etc/s2s-agent/azure-secret") == SECRET
        and read("/usr/local/etc/s2s-agent.yaml") == yaml_before
        and LOGLINE in read("/var/log/s2s-agent.log"),
    )
    st = service_state()
    check(
        f"pkg8 upgrade ({how}): Status > Services enabled + running",
        st == {"found": True, "enabled": True, "running": True, "start_button": False},
        st,
    )
    check(
        f"pkg8 upgrade ({how}): pfSense sees version 0.2.0",
        "<version>0.2.0</version>" in read("/usr/local/share/pfSense-pkg-s2s-agent/info.xml")
        and config().findtext("installedpackages/package/version") == "0.2.0",
        config().findtext("installedpackages/package/version"),
    )
    reg = rename.registration()
    check(
        f"pkg8 upgrade ({how}) from 0.1.0's s2s-agent.xml: registered as s2s_agent.xml with "
        "plugin_gateway, menus on the new page, nothing names s2s-agent.xml",
        reg == rename.WANT and rename.no_old_name(),
        reg,
    )
    rename.gui_reachable(f"pkg8 upgrade ({how})")
    clear_rclog()
    php("-f", "/etc/rc.start_packages")
    check(
        f"pkg8 upgrade ({how}): next WAN change neither restarts nor HUPs",
        rclog() == [] and running(),
        rclog(),
    )


def pkg8_deleted() -> None:
    write("/var/log/s2s-agent.log", LOGLINE)
    r = pkg8("delete", "-y", "pfSense-pkg-s2s-agent")
    st = pfsense_state()
    check(
        "pkg8 delete: exit 0, stopped, unregistered (no package, menu, service)",
        r.returncode == 0 and not running() and st == {"packages": [], "menus": [], "services": []},
        f"{st} {r.stderr[-500:]}",
    )
    check(
        "pkg8 delete: settings stay in config.xml; secret file and rc file gone; log kept",
        pkgcfg().get("client_secret") == SECRET
        and not rpath("/usr/local/etc/s2s-agent/azure-secret").exists()
        and not rpath("/usr/local/etc/rc.d/s2s-agent.sh").exists()
        and LOGLINE in read("/var/log/s2s-agent.log"),
        pkgcfg(),
    )


def pkg8_flow() -> None:
    """Install, upgrade and delete with FreeBSD's real pkg(8): its scripts run pfSense's real
    rc.packages, in the order pkg(8) chooses (upgrade: old DEINSTALL, new POST-INSTALL).
    Upgrades both ways the README documents: `pkg install` of the file, `pkg upgrade` from a
    local `pkg repo`."""
    _, pkgdir = os.environ["S2S_DRIVE_PKG8"].split("|")
    (old,) = Path(pkgdir, "v1").glob("pfSense-pkg-s2s-agent-0.1.0-*.pkg")
    (new,) = Path(pkgdir, "v2").glob("pfSense-pkg-s2s-agent-0.2.0-*.pkg")
    r = pkg8("add", str(old))
    check("pkg8 add 0.1.0: exit 0", r.returncode == 0, r.stdout[-800:] + r.stderr[-800:])
    st = pfsense_state()
    check("pkg8 add: POST-INSTALL registered package, both menus, service", st == REGISTERED, st)
    check("pkg8 add: nothing started while disabled", not running(), rclog())

    clear_rclog()
    r, errors, _ = save(SETTINGS, rename.OLD)  # 0.1.0's settings page
    check("pkg8: first save starts the service", not errors and running(), f"{errors} {rclog()}")
    before, yaml_before = pkgcfg(), read("/usr/local/etc/s2s-agent.yaml")
    write("/var/log/s2s-agent.log", LOGLINE)
    pid_before = read("/var/run/s2s_agent.pid").strip()
    clear_rclog()
    r = pkg8("install", "-U", "-y", str(new))
    pkg8_upgraded("pkg install FILE", r, before, yaml_before, pid_before)
    pkg8_deleted()

    clear_rclog()
    r = pkg8("add", str(old))
    check(
        "pkg8 reinstall 0.1.0 with saved settings: registered and started",
        r.returncode == 0 and pfsense_state() == REGISTERED and running(),
        rclog(),
    )
    repo, repos = Path(pkgdir, "repo"), Path(pkgdir, "repos")
    repo.mkdir(exist_ok=True)
    repos.mkdir(exist_ok=True)
    (repo / new.name).write_bytes(new.read_bytes())
    (repos / "local.conf").write_text(
        f'local: {{ url: "file://{repo}", signature_type: "none", enabled: yes }}\n'
    )
    env = {"REPOS_DIR": str(repos)}
    r0 = pkg8("repo", str(repo), env=env)
    r1 = pkg8("update", "-f", env=env)
    check("pkg8 repo + update", r0.returncode == r1.returncode == 0, r0.stderr + r1.stderr)
    pid_before = read("/var/run/s2s_agent.pid").strip()
    clear_rclog()
    r = pkg8("upgrade", "-y", env=env)
    pkg8_upgraded("pkg upgrade from a pkg repo", r, before, yaml_before, pid_before)
    rename.restore_old_config()  # then a backup of the 0.1.0 days is restored
    pkg8_deleted()
