"""Step of drive.py: several Azure tunnels and credential profiles through pfSense's REAL
pkg_edit.php (its rowhelper render and save loop): the Credential profiles page (secrets as
DMYPWD, kept, replaced, a profile's file removed with it, a used profile refused), the
Settings page's "More Azure tunnels" rows (one on a gateway group), the YAML in the tunnels
form, and Save refused with the REAL agent's message (its validate-config runs in the chroot
with the host's python3) for two tunnels on one LNG with different WAN sources."""

from __future__ import annotations

import re
import shutil
import stat
import xml.etree.ElementTree as ET

import harness as H
from form import Form
from harness import SECRET, check, config, php, read, rpath, web, write

PROFILES_XML = "s2s_agent_profiles.xml"
BRANCH = "Br4nch~secret-DO-NOT-LEAK"
SPARE = "Sp4re~secret-DO-NOT-LEAK"
SUB = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"  # SETTINGS' subscription
SUB_B = "bbbbbbbb-1111-2222-3333-444444444444"
GATEWAYS = """<gateways>
		<gateway_item><interface>wan</interface><gateway>198.51.100.1</gateway>
			<name>WAN1GW</name><ipprotocol>inet</ipprotocol></gateway_item>
		<gateway_item><interface>opt1</interface><gateway>100.64.0.1</gateway>
			<name>WAN2GW</name><ipprotocol>inet</ipprotocol></gateway_item>
		<gateway_group><name>WAN_FAILOVER</name><item>WAN2GW|2|</item><item>WAN1GW|1|</item>
			<trigger>down</trigger><descr>failover</descr></gateway_group>
	</gateways>"""


def prepare_box(proj: str) -> None:
    """A gateway group, phase 1 ikeid 3 on it; the real agent answers Save's validate-config."""
    text = read("/cf/conf/config.xml")
    text = re.sub(r"\s*<gateways>.*?</gateways>|\s*<gateways/>", "", text, flags=re.S)
    text = text.replace("</pfsense>", GATEWAYS + "\n</pfsense>")
    pat = r"(<ikeid>3</ikeid>.*?<interface>)opt1(</interface>)"
    text = re.sub(pat, r"\1WAN_FAILOVER\2", text, count=1, flags=re.S)
    # phase 1 2 (disabled by an earlier step) enabled again: the active-active partner of 1
    text = re.sub(
        r"<phase1>(?:(?!</phase1>).)*?<ikeid>2</ikeid>.*?</phase1>",
        lambda m: re.sub(r"\s*<disabled\s*/>|\s*<disabled>\s*</disabled>", "", m.group(0)),
        text,
        count=1,
        flags=re.S,
    )
    write("/cf/conf/config.xml", text)
    rpath("/tmp/config.cache").unlink(missing_ok=True)
    shutil.copytree(f"{proj}/agent/s2s_agent", H.ROOT / "agent-src/s2s_agent", dirs_exist_ok=True)
    write("/var/run/fake-agent-real", "")


def page(xml: str) -> tuple[str, Form]:
    r, _ = web("pkg_edit.php", "GET", f"xml={xml}&id=0")
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout, Form(r.stdout)


def post_page(xml: str, edits: dict, drop: tuple[str, ...] = ()):
    html, form = page(xml)
    disabled = None
    if xml == "s2s_agent.xml":
        names = re.findall(r"\$\('input\[name=\"(\w+)\"\]'\)\.prop\('disabled',true\)", html)
        disabled = {"remediation": names}
    post = form.post(edits, disabled)
    # rows the page's "Add" button would clone: NAME<index> inputs the page did not render
    post.update({k: v for k, v in edits.items() if k not in post})
    for k in drop:
        post.pop(k, None)
    post.update({"xml": xml, "id": "0"})
    r, errors = web("pkg_edit.php", "POST", f"xml={xml}", post)
    return r, errors or []


def options(html: str, name: str) -> list[str]:
    m = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    return re.findall(r'<option value="([^"]*)"', m.group(1)) if m else []


def stored_rows(pkg: str) -> list[dict]:
    el = config().find(f"installedpackages/{pkg}/config")
    rows = el.findall("row") if el is not None else []
    return [{c.tag: c.text or "" for c in r} for r in rows]


def mode(path: str) -> int:
    return stat.S_IMODE(rpath(path).stat().st_mode)


def prof(i: int, name: str, secret: str) -> dict:
    return {
        f"prf_name{i}": name,
        f"prf_cloud{i}": "AzureCloud",
        f"prf_tenant{i}": "11111111-2222-3333-4444-00000000000" + str(i + 1),
        f"prf_client{i}": "11111111-2222-3333-4444-00000000001" + str(i + 1),
        f"prf_secret{i}": secret,
        f"prf_cert{i}": "",
    }


def tun(i: int, ikeid: str, lng: str, profile: str, sub: str = SUB_B, rg: str = "rg-b") -> dict:
    return {
        f"tun_ikeid{i}": ikeid,
        f"tun_name{i}": "",
        f"tun_lng{i}": lng,
        f"tun_conn{i}": "",
        f"tun_sub{i}": sub,
        f"tun_rg{i}": rg,
        f"tun_profile{i}": profile,
        f"tun_wan{i}": "phase1",
    }


def profiles_page() -> None:
    html, form = page(PROFILES_XML)
    check("profiles: the real pkg_edit.php renders the rowhelper", "prf_secret0" in form.fields)
    r, errors = post_page(PROFILES_XML, {**prof(0, "branch", BRANCH), **prof(1, "spare", SPARE)})
    rows = stored_rows("s2sagentprofiles")
    check(
        "profiles: two saved through the real save loop",
        not errors and [p.get("prf_name") for p in rows] == ["branch", "spare"],
        f"{errors} {rows} {r.stderr[-500:]}",
    )
    html, form = page(PROFILES_XML)
    check(
        "profiles GET: stored secrets never rendered, DMYPWD in their place",
        BRANCH not in html
        and SPARE not in html
        and form.fields["prf_secret0"]["value"] == "********"
        and form.fields["prf_secret1"]["value"] == "********",
        {k: v for k, v in form.fields.items() if k.startswith("prf_secret")},
    )
    r, errors = post_page(PROFILES_XML, {})  # saved as rendered: the placeholders back
    rows = stored_rows("s2sagentprofiles")
    check(
        "profiles: the placeholder keeps the stored secrets",
        not errors and [p.get("prf_secret") for p in rows] == [BRANCH, SPARE],
        errors,
    )


def settings_rows() -> None:
    html, form = page("s2s_agent.xml")
    enabled = [
        p.findtext("ikeid") for p in config().findall("ipsec/phase1") if p.find("disabled") is None
    ]
    check(
        "settings GET: phase 1 choices are the enabled ones, profiles listed",
        options(html, "tun_ikeid0") == enabled  # 5, 6: added by drive.py's apply_myids
        and options(html, "tun_profile0") == ["default", "branch", "spare"],
        f"{options(html, 'tun_ikeid0')} {options(html, 'tun_profile0')}",
    )
    # SETTINGS' phase 1 1 uses lng-hq on wan; ikeid 3 (gateway group) on the same LNG
    bad = {**tun(0, "3", "lng-hq", "default", SUB, "rg-net")}
    r, errors = post_page("s2s_agent.xml", bad)
    check(
        "settings: same LNG, different WAN sources -> the real agent's message, not saved",
        any(
            "agent refuses" in e and "both update LNG lng-hq but use different WAN sources" in e
            for e in errors
        )
        and not stored_rows("s2sagent"),
        f"{errors} {r.stderr[-500:]}",
    )
    rows = {**tun(0, "3", "lng-b", "branch"), **tun(1, "2", "lng-hq", "default", SUB, "rg-net")}
    r, errors = post_page("s2s_agent.xml", rows)
    saved = stored_rows("s2sagent")
    check(
        "settings: two more tunnels saved by the real save loop",
        not errors and [t.get("tun_ikeid") for t in saved] == ["3", "2"],
        f"{errors} {saved} {r.stderr[-500:]}",
    )
    doc = read("/usr/local/etc/s2s-agent.yaml")
    check(
        "resync: tunnels form, gateway group members in tier order, ikeids",
        "azure_profiles:" in doc
        and re.search(r'group: "WAN_FAILOVER"\s+members:\s+- gateway: "WAN1GW"\s+tier: 1', doc)
        and doc.count("ikeid:") == 3
        and SECRET not in doc
        and BRANCH not in doc,
        doc[-1500:],
    )
    d = "/usr/local/etc/s2s-agent"
    check(
        "resync: one secret file per profile, 0600",
        read(f"{d}/azure-branch.secret") == BRANCH
        and read(f"{d}/azure-spare.secret") == SPARE
        and mode(f"{d}/azure-branch.secret") == 0o600
        and read(f"{d}/azure-secret") == SECRET,
    )
    calls = read("/var/log/fake-agent-calls.log")
    check("settings: Save asked the agent (validate-config)", "validate-config" in calls, calls)


def profile_removal() -> None:
    r, errors = post_page(PROFILES_XML, {}, drop=tuple(prof(0, "", "")))
    check(
        "profiles: a profile a tunnel uses cannot be removed",
        any(e.startswith("Credential profile branch: tunnel") for e in errors),
        errors,
    )
    r, errors = post_page(PROFILES_XML, {}, drop=tuple(prof(1, "", "")))
    d = "/usr/local/etc/s2s-agent"
    check(
        "profiles: removing an unused profile removes its secret file",
        not errors
        and [p.get("prf_name") for p in stored_rows("s2sagentprofiles")] == ["branch"]
        and not rpath(f"{d}/azure-spare.secret").exists()
        and read(f"{d}/azure-branch.secret") == BRANCH,
        f"{errors} {r.stderr[-500:]}",
    )
    code = (
        'require_once("config.inc"); $c = parse_xml_config("/cf/conf/config.xml", "pfsense");'
        ' echo json_encode(count($c["installedpackages"]["s2sagentprofiles"]["config"][0]["row"]));'
    )
    out = php("-r", code).stdout.strip().splitlines()
    check("config.xml: one profile row parses as a list of one", out[-1:] == ["1"], out)


PROJ = ""  # the project directory (set by drive.py's main)


def several_tunnels() -> None:
    prepare_box(PROJ)
    try:
        profiles_page()
        settings_rows()
        profile_removal()
    finally:
        rpath("/var/run/fake-agent-real").unlink(missing_ok=True)
    ET.fromstring(read("/cf/conf/config.xml"))  # still XML
