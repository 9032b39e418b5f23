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
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT

DRIVER = Path(__file__).parent / "pfsense_real" / "drive.py"
SOURCES = [p for p in os.environ.get("S2S_PFSENSE_SRC", "").split(":") if p]


def _why_not() -> str | None:
    if not SOURCES:
        return "S2S_PFSENSE_SRC is not set (checkouts of github.com/pfsense/pfsense)"
    if os.geteuid() != 0:
        return "needs root (mount namespace and chroot)"
    for tool in ("php", "unshare", "chroot"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    return None


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
    r = subprocess.run(["php", "-d", f"include_path={inc}", "-r", code],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert to_php(ET.parse(xml).getroot()) == json.loads(r.stdout)
