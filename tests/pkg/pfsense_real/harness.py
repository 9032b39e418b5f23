"""Helpers of the real-pfSense driver (drive.py, pkg8flow.py): run php / pages inside the
chroot ROOT (set by drive.py's main before any step), read and write its files, config.xml,
the fake agent's rc log, and record PASS/FAIL checks."""

from __future__ import annotations

import json
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from form import Form  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = Path()
RESULTS: list[tuple[str, bool]] = []
SECRET = "S3cr3t~value-do-not-leak"
PEM = (
    "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n"
    "-----BEGIN PRIVATE KEY-----\nMIIEprivkeyDONOTLEAK\n-----END PRIVATE KEY-----"
)
SETTINGS = {
    "enable": True,
    "ikeid": "1",
    "tunnel_name": "Zürich Büro",
    "remediation": True,
    "tenant_id": "11111111-2222-3333-4444-555555555555",
    "client_id": "66666666-7777-8888-9999-000000000000",
    "subscription_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "auth_method": "secret",
    "client_secret": SECRET,
    "resource_group": "rg-net",
    "local_network_gateway": "lng-hq",
    "connection": "",
}
SERVICE_PHP = (
    'require_once("config.inc"); require_once("service-utils.inc"); require_once("pkg-utils.inc");'
    '$s = null; foreach (config_get_path("installedpackages/service", []) as $x) {'
    ' if ($x["name"] == "s2sagent") { $s = $x; } }'
    '$links = $s ? get_service_control_links($s) : "";'
    'echo "\\n" . json_encode(["found" => !empty($s), "enabled" => is_service_enabled("s2sagent"),'
    ' "running" => (bool)get_service_status($s),'
    ' "start_button" => substr_count($links, "startservice") > substr_count($links, "restartservice")]);'
)


def check(name: str, ok, detail="") -> None:
    RESULTS.append((name, bool(ok)))
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f"  -- {detail}"), flush=True)


def php(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    argv = [str(HERE / "php.sh"), str(ROOT), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def rpath(p: str) -> Path:
    p = p.lstrip("/")
    if p.startswith("usr/local/"):
        return ROOT / "local" / p[len("usr/local/") :]
    return ROOT / p


def read(p: str, default: str = "") -> str:
    try:
        return rpath(p).read_text(encoding="utf-8")
    except FileNotFoundError:
        return default


def write(p: str, text: str) -> None:
    rpath(p).parent.mkdir(parents=True, exist_ok=True)
    rpath(p).write_text(text, encoding="utf-8")


def rclog() -> list[str]:
    return read("/var/log/s2s-rc.log").split()


def clear_rclog() -> None:
    time.sleep(0.6)  # a SIGHUP trap of the fake agent may still be writing
    write("/var/log/s2s-rc.log", "")


def config() -> ET.Element:
    return ET.parse(rpath("/cf/conf/config.xml")).getroot()


def pkgcfg() -> dict:
    el = config().find("installedpackages/s2sagent/config")
    return {c.tag: (c.text or "") for c in el} if el is not None else {}


def running() -> bool:
    pid = read("/var/run/s2s_agent.pid").strip()
    return bool(pid) and Path(f"/proc/{pid}").exists()


def web(page: str, method: str = "GET", query: str = "", post: dict | None = None):
    args = ["/harness-stubs/web.php", page, method, query]
    if post is not None:
        write("/tmp/post.json", json.dumps(post))
        args.append("/tmp/post.json")
    r = php(*args)
    res = json.loads(read("/tmp/web-result.json") or "{}")
    return r, res.get("input_errors")


def get_form(xml: str = "s2s_agent.xml") -> tuple[str, Form, dict]:
    r, _ = web("pkg_edit.php", "GET", f"xml={xml}&id=0")
    assert r.returncode == 0, r.stderr[-2000:]
    # pkg_edit.php's enablefields script: these inputs are disabled while the box is unchecked
    disabled = re.findall(r"\$\('input\[name=\"(\w+)\"\]'\)\.prop\('disabled',true\)", r.stdout)
    return r.stdout, Form(r.stdout), {"remediation": disabled}


def save(edits: dict, xml: str = "s2s_agent.xml"):
    """Save the settings page ``xml`` (0.1.0's was s2s-agent.xml) as a browser posts it."""
    _, form, disabled = get_form(xml)
    post = form.post(edits, disabled)
    post.update({"xml": xml, "id": "0"})
    r, errors = web("pkg_edit.php", "POST", f"xml={xml}", post)
    return r, errors, post


def service_state() -> dict:
    return json.loads(php("-r", SERVICE_PHP).stdout.strip().splitlines()[-1])


def pfsense_state() -> dict:
    cfg = config()
    return {
        "packages": [p.findtext("name") for p in cfg.findall("installedpackages/package")],
        "menus": sorted(
            (m.findtext("name") or "", m.findtext("section") or "")
            for m in cfg.findall("installedpackages/menu")
        ),
        "services": [s.findtext("name") for s in cfg.findall("installedpackages/service")],
    }
