"""The package against pfSense's REAL PHP (optional): tests/pkg/pfsense_real/drive.py runs
rc.packages, pkg_edit.php GET/POST (as a browser posts the form), rc.start_packages (what
rc.newwanip triggers), rc.package_reinstall_all (after a config restore) and apply-myid.php
with pfSense's own config.lib.inc, xmlparse.inc, util.inc, service-utils.inc, pkg-utils.inc
in a chroot (stubs only for FreeBSD-only calls).

Set S2S_PFSENSE_SRC to one or more checkouts of github.com/pfsense/pfsense (each holding
``src/``), separated by ":", e.g. made with
``git --git-dir=PFSENSE.git archive RELENG_2_7_2 src | tar -x -C /tmp/pfsense-2.7.2``.
Needs root (mount namespace + chroot) and php-cli with php-xml and php-mbstring. Nothing of
pfSense is copied into the project.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

DRIVER = Path(__file__).parent / "pfsense_real" / "drive.py"
sys.path.insert(0, str(Path(__file__).parent / "pfsense_real"))
import srcworld  # noqa: E402

SOURCES = srcworld.SOURCES
_why_not = srcworld.why_not  # S2S_PFSENSE_SRC set, root, php/unshare/chroot present


@pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")
@pytest.mark.parametrize("src", SOURCES, ids=lambda p: Path(p).name)
def test_package_against_real_pfsense_php(src, tmp_path):
    assert (Path(src) / "src/etc/inc/pkg-utils.inc").is_file(), f"{src} is not a pfSense checkout"
    r = subprocess.run(
        [str(DRIVER), src, str(ROOT), str(tmp_path)], capture_output=True, text=True, timeout=900
    )
    print(r.stdout)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


@pytest.mark.skipif(not SOURCES or shutil.which("php") is None, reason="S2S_PFSENSE_SRC / php")
@pytest.mark.parametrize("src", SOURCES, ids=lambda p: Path(p).name)
def test_pfconfig_stand_in_parses_like_the_real_parse_xml_config(src, tmp_path):
    """tests/pkg/pfconfig.to_php() against xmlparse.inc's parse_xml_config() of ``src``."""
    import json
    import xml.etree.ElementTree as ET

    from .pfconfig import GUI_SETTINGS, config_with_package, to_php

    xml = tmp_path / "config.xml"
    xml.write_text(config_with_package(GUI_SETTINGS), encoding="utf-8")
    inc = Path(src) / "src/etc/inc"
    code = f'require_once "xmlparse.inc"; echo json_encode(parse_xml_config("{xml}", "pfsense"));'
    r = subprocess.run(
        ["php", "-d", f"include_path={inc}", "-r", code], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert to_php(ET.parse(xml).getroot()) == json.loads(r.stdout)


PKG8 = os.environ.get("S2S_PKG8", "")
FAKES = DRIVER.parent / "fakes"


# 0.1.0's page names (its configurationfile was s2s-agent.xml, without <plugins>)
OLD_NAMES = (
    (b"s2s_agent_profiles.xml", b"s2s-agent-profiles.xml"),
    (b"s2s_agent.xml", b"s2s-agent.xml"),
)


def as_0_1_0(b, ents: list) -> list:
    """The package's entries as 0.1.0 shipped them: the pages under their old names (and
    every link, priv match and info.xml naming them), no <plugins>, no s2s-agent.xml stand-in
    for old registrations (0.1.0's settings page had that name)."""
    out = []
    for e in ents:
        if e.path == "/usr/local/pkg/s2s-agent.xml":
            continue
        path, data = e.path, e.data
        if path.endswith((".xml", ".php", ".priv.inc")):
            for new, old in OLD_NAMES:
                data = data.replace(new, old)
                path = path.replace(new.decode(), old.decode())
            data = re.sub(rb"\n\t<plugins>.*?</plugins>", b"", data, flags=re.S)
        out.append(b.pkgformat.Entry(path, data, e.mode))
    assert b"<configurationfile>s2s-agent.xml<" in next(
        e.data for e in out if e.path.endswith("/info.xml")
    )
    return out


def build_pkg8_inputs(out: Path) -> None:
    """out/v1: the 0.1.0 package (page names as 0.1.0 had them: as_0_1_0) + a python311 stub (no files: pfSense's python3.11 is the
    harness's); out/v2: a 0.2.0 of the same. Both ABI FreeBSD:14:*, built by pkg/build.py
    from the package's real files and scripts, with two changes for a Debian chroot: the
    agent's rc.d script and CLI are the harness fakes (FreeBSD's rc.subr and daemon(8) do not
    exist here), and the bundled libraries are left out (the agent itself never runs)."""
    import json

    from .conftest import EPOCH, load_builder

    b = load_builder()
    fakes = {
        "/usr/local/etc/rc.d/s2s_agent": FAKES / "rc.d-s2s_agent",
        "/usr/local/bin/s2s-agent": FAKES / "s2s-agent",
    }
    keep = f"{b.LIBDIR}/s2s_agent/"
    entries = [
        b.pkgformat.Entry(e.path, fakes[e.path].read_bytes(), e.mode) if e.path in fakes else e
        for e in b.collect(Path(b.parse_args([]).site))
        if not e.path.startswith(b.LIBDIR + "/") or e.path.startswith(keep)
    ]
    abi = "FreeBSD:14:*"
    for version, sub in (("0.1.0", "v1"), ("0.2.0", "v2")):
        meta = {**b.manifest_meta(abi), "version": version}
        ents = [
            b.pkgformat.Entry(e.path, e.data.replace(b"0.1.0", version.encode()), e.mode)
            if e.path.endswith("/info.xml") or e.path.endswith("/s2s_agent.xml")
            else e
            for e in entries
        ]
        if version == "0.1.0":
            ents = as_0_1_0(b, ents)
        manifest = b.pkgformat.build_manifest(
            meta, ents, b.owned_dirs(ents), b.scripts(meta["name"])
        )
        (out / sub).mkdir(parents=True)
        f = out / sub / b.package_filename(meta["name"], version, abi)
        b.pkgformat.write_pkg(str(f), manifest, ents, EPOCH, "xz")
    stub = {
        "name": "python311",
        "origin": "lang/python311",
        "version": "3.11.9",
        "comment": "stub",
        "desc": "stub",
        "maintainer": "test@example.org",
        "www": "https://www.python.org/",
        "prefix": "/usr/local",
        "abi": abi,
    }
    (out / "stub.json").write_text(json.dumps(stub))
    (out / "stubroot").mkdir()
    subprocess.run(
        [
            PKG8,
            "create",
            "-M",
            str(out / "stub.json"),
            "-r",
            str(out / "stubroot"),
            "-o",
            str(out / "v1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")
@pytest.mark.skipif(not PKG8, reason="S2S_PKG8 is not set (FreeBSD's pkg(8), see test_pkg8.py)")
@pytest.mark.parametrize("src", SOURCES, ids=lambda p: Path(p).name)
def test_real_pkg8_runs_the_package_into_real_pfsense(src, tmp_path):
    """pkg add, an upgrade by ``pkg install`` of the newer file and pkg delete with FreeBSD's
    real pkg(8): the package's own scripts run pfSense's real rc.packages (chrooted), in the
    order pkg(8) runs them; then the pfSense side is checked (pfsense_real/pkg8flow.py)."""
    build_pkg8_inputs(tmp_path / "pkgs")
    env = {**os.environ, "S2S_DRIVE_PKG8": f"{PKG8}|{tmp_path / 'pkgs'}"}
    r = subprocess.run(
        [str(DRIVER), src, str(ROOT), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    print(r.stdout)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
