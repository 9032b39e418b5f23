"""pfSense backend of the local apply: read config.xml, plan the "My identifier" change, apply it.

Parsing (pure, ElementTree, no network): :func:`read_phase1` returns the IPsec phase 1 chosen
by ``ikeid`` (or ``descr``) from config.xml text, with its phase 2 entries. Decision (pure):
:func:`plan_myid`. Action: :func:`apply_myid` runs the PHP helper shipped by the package
(``/usr/local/libexec/s2s-agent/apply-myid.php``), which goes through pfSense's own config API
(``config_set_path``, ``write_config`` with a reason, ``ipsec_configure``): the agent never
writes config.xml itself.

Schema of :class:`Phase1` (element names as pfSense writes them under ``<ipsec><phase1>``)::

    ikeid          int      <ikeid>            swanctl IKE name is "con<ikeid>"
    iketype        str      <iketype>          ikev1 | ikev2 | auto
    interface      str      <interface>        wan, opt1, a CARP VIP "_vip5f3..." ...
    remote_gateway str      <remote-gateway>
    myid_type      str      <myid_type>        myaddress | address | fqdn | user_fqdn | asn1dn
                                               | keyid tag | dyn_dns | auto
    myid_data      str|None <myid_data>
    peerid_type    str      <peerid_type>
    peerid_data    str|None <peerid_data>
    dpd_delay      int|None <dpd_delay>        seconds
    dpd_maxfail    int|None <dpd_maxfail>
    disabled       bool     <disabled/>        present = disabled
    splitconn      bool     <splitconn/>       one child per phase 2
    descr          str      <descr>
    phase2         tuple[Phase2, ...]          every <phase2> whose <ikeid> matches

    Phase2: ikeid int, reqid int|None, mode (tunnel|tunnel6|transport|vti),
            localid / remoteid str ("192.168.1.0/24", "10.0.0.1", or the type: "lan"),
            pinghost str|None, keepalive bool, disabled bool, descr str
"""

from __future__ import annotations

import ipaddress
import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config.pfsense import DEFAULT_CONFIG_XML, PfsenseSettings, parse_pfsense  # noqa: F401
from ..core import osio
from ..core.errors import CommandError, ConfigError, LocalApplyError

log = logging.getLogger(__name__)

PHP = "/usr/local/bin/php"
HELPER = "/usr/local/libexec/s2s-agent/apply-myid.php"
Runner = Callable[..., osio.Result]


@dataclass(frozen=True)
class Phase2:
    ikeid: int
    reqid: int | None
    mode: str
    localid: str
    remoteid: str
    pinghost: str | None
    keepalive: bool
    disabled: bool
    descr: str


@dataclass(frozen=True)
class Phase1:
    ikeid: int
    iketype: str
    interface: str
    remote_gateway: str
    myid_type: str
    myid_data: str | None
    peerid_type: str
    peerid_data: str | None
    dpd_delay: int | None
    dpd_maxfail: int | None
    disabled: bool
    splitconn: bool
    descr: str
    phase2: tuple[Phase2, ...]
    source: str = "config.xml"


@dataclass(frozen=True)
class MyidPlan:
    action: str  # "set" | "none"
    reason: str
    old: str | None
    new: str


@dataclass(frozen=True)
class MyidResult:
    changed: bool
    old: str | None
    new: str


def _text(el: ET.Element, name: str) -> str | None:
    child = el.find(name)
    if child is None:
        return None
    return (child.text or "").strip()


def _int(el: ET.Element, name: str, where: str, source: str) -> int | None:
    value = _text(el, name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"<{name}> is {value!r}, not a number", path=source, key=where) from None


def _ident(el: ET.Element | None) -> str:
    if el is None:
        return ""
    kind = _text(el, "type") or ""
    addr = _text(el, "address")
    if kind == "network" and addr:
        return f"{addr}/{_text(el, 'netbits') or ''}".rstrip("/")
    if kind == "address" and addr:
        return addr
    return kind


def _phase2(el: ET.Element, source: str) -> Phase2:
    where = "ipsec/phase2"
    ikeid = _int(el, "ikeid", where, source)
    if ikeid is None:
        raise ConfigError("a <phase2> has no <ikeid>", path=source, key=where)
    return Phase2(
        ikeid=ikeid,
        reqid=_int(el, "reqid", f"{where}[ikeid={ikeid}]/reqid", source),
        mode=_text(el, "mode") or "tunnel",
        localid=_ident(el.find("localid")),
        remoteid=_ident(el.find("remoteid")),
        pinghost=_text(el, "pinghost") or None,
        keepalive=(_text(el, "keepalive") or "") in ("enabled", "on", "yes"),
        disabled=el.find("disabled") is not None,
        descr=_text(el, "descr") or "",
    )


def parse_config_xml(text: str, source: str = "config.xml") -> ET.Element:
    """Parse config.xml text; the root must be ``<pfsense>``. Raises ConfigError."""
    root_at = text.find("<pfsense")
    head = text if root_at < 0 else text[:root_at]  # the prolog: where a DTD would be
    if "<!DOCTYPE" in head or "<!ENTITY" in head:
        raise ConfigError(
            "has a DOCTYPE/ENTITY declaration, which pfSense never writes; refusing to parse it",
            path=source,
        )
    try:
        root = ET.fromstring(text)  # noqa: S314 -- root-owned file, no DTD (checked above)
    except ET.ParseError as exc:
        raise ConfigError(
            f"is not well-formed XML ({exc}); restore it from "
            "Diagnostics > Backup & Restore > Config History",
            path=source,
        ) from None
    if root.tag != "pfsense":
        raise ConfigError(
            f"root element is <{root.tag}>, not <pfsense>: is this pfSense's "
            "config.xml? (pfsense.config_xml)",
            path=source,
        )
    return root


def read_phase1(
    config_xml_text: str,
    ikeid: int | None = None,
    descr: str | None = None,
    *,
    source: str = "config.xml",
) -> Phase1:
    """The phase 1 with ``ikeid`` (else the one whose ``descr`` matches) and its phase 2s."""
    if ikeid is None and descr is None:
        raise ValueError("read_phase1 needs ikeid or descr")
    root = parse_config_xml(config_xml_text, source)
    ipsec = root.find("ipsec")
    p1s = [] if ipsec is None else ipsec.findall("phase1")
    want = f"ikeid {ikeid}" if ikeid is not None else f"description {descr!r}"
    if ikeid is not None:
        hits = [p for p in p1s if _text(p, "ikeid") == str(ikeid)]
    else:
        hits = [p for p in p1s if _text(p, "descr") == descr]
    if not hits:
        have = (
            ", ".join(f"{_text(p, 'ikeid')} ({_text(p, 'descr') or 'no description'})" for p in p1s)
            or "none"
        )
        raise ConfigError(
            f"no IPsec phase 1 with {want} (phase 1 entries: {have}); check pfsense.ikeid",
            path=source,
            key="ipsec/phase1",
        )
    if len(hits) > 1:
        raise ConfigError(
            f"{len(hits)} IPsec phase 1 entries match {want}; use pfsense.ikeid",
            path=source,
            key="ipsec/phase1",
        )
    p1 = hits[0]
    where = f"ipsec/phase1[{want}]"
    real_id = _int(p1, "ikeid", f"{where}/ikeid", source)
    if real_id is None:
        raise ConfigError("the phase 1 has no <ikeid>", path=source, key=where)
    p2s = tuple(
        _phase2(p, source)
        for p in ipsec.findall("phase2")  # type: ignore[union-attr]
        if _text(p, "ikeid") == str(real_id)
    )
    return Phase1(
        ikeid=real_id,
        iketype=_text(p1, "iketype") or "ikev2",
        interface=_text(p1, "interface") or "wan",
        remote_gateway=_text(p1, "remote-gateway") or "",
        myid_type=_text(p1, "myid_type") or "myaddress",
        myid_data=_text(p1, "myid_data") or None,
        peerid_type=_text(p1, "peerid_type") or "peeraddress",
        peerid_data=_text(p1, "peerid_data") or None,
        dpd_delay=_int(p1, "dpd_delay", f"{where}/dpd_delay", source),
        dpd_maxfail=_int(p1, "dpd_maxfail", f"{where}/dpd_maxfail", source),
        disabled=p1.find("disabled") is not None,
        splitconn=p1.find("splitconn") is not None,
        descr=_text(p1, "descr") or "",
        phase2=p2s,
        source=source,
    )


def load_phase1(settings: PfsenseSettings) -> Phase1:
    """Read ``settings.config_xml`` from disk and pick the configured phase 1 (I/O)."""
    from ..core.atomic import read_regular  # never blocks on a FIFO; refuses special files

    try:
        text = read_regular(settings.config_xml, 256 * 1024 * 1024).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", path=settings.config_xml) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot be read: {exc.strerror or exc} (pfsense.config_xml)", path=settings.config_xml
        ) from None
    return read_phase1(text, settings.ikeid, settings.descr, source=settings.config_xml)


def pfsense_conn_names(phase1: Phase1) -> tuple[str, tuple[str, ...]]:
    """swanctl names pfSense (≥ 2.5) generates: IKE ``con<ikeid>`` and its children.

    IKEv2 without "split connections": one child ``con<ikeid>`` carrying every phase 2;
    otherwise one child per enabled tunnel-mode phase 2, ``con<ikeid>_<reqid>``.
    """
    ike = f"con{phase1.ikeid}"
    active = [p for p in phase1.phase2 if not p.disabled]
    if phase1.iketype == "ikev2" and not phase1.splitconn:
        return ike, (ike,) if active else ()
    return ike, tuple(f"{ike}_{p.reqid}" for p in active if p.reqid is not None)


def plan_myid(phase1: Phase1, new_ip: str) -> MyidPlan:
    """Decide whether the phase 1 "My identifier" must be rewritten for ``new_ip`` (pure)."""
    try:
        ipaddress.ip_address(new_ip)
    except ValueError:
        raise LocalApplyError("plan", f"new WAN address {new_ip!r} is not an IP address") from None
    old = phase1.myid_data
    name = f"phase 1 {phase1.ikeid} ({phase1.descr or 'no description'})"
    if phase1.disabled:
        raise ConfigError(
            f"{name} is disabled in pfSense; enable it or set pfsense.ikeid to the active tunnel",
            path=phase1.source,
            key=f"ipsec/phase1[ikeid={phase1.ikeid}]/disabled",
        )
    kind = phase1.myid_type
    if kind == "myaddress":
        return MyidPlan(
            "none",
            f"{name} uses 'My IP address': pfSense uses the interface "
            "address; rc.newwanip re-applies it",
            None,
            new_ip,
        )
    if kind == "address":
        if old == new_ip:
            return MyidPlan("none", f"{name} My identifier is already {new_ip}", old, new_ip)
        return MyidPlan(
            "set",
            f"{name} My identifier is the static address {old}; the WAN address is now {new_ip}",
            old,
            new_ip,
        )
    return MyidPlan(
        "none",
        f"{name} My identifier is {kind} {old or ''}".rstrip() + ": it does "
        "not follow the WAN address; the Azure connection (and any peer) must "
        "match that identifier",
        old,
        new_ip,
    )


def apply_myid(
    ikeid: int,
    new_ip: str,
    *,
    runner: Runner = osio.run,
    php: str = PHP,
    helper: str = HELPER,
    timeout: float = 60.0,
) -> MyidResult:
    """Run the package's PHP helper to set phase 1 ``ikeid``'s My identifier to ``new_ip``.

    Contract of apply-myid.php: ``--ikeid N --ip A.B.C.D``; stdout one JSON object
    ``{"changed","old","new","pending_applied"}`` or ``{"error"}``; exit 0 done (and charon
    has loaded the new identifier), 1 could not apply, 2 usage.
    """
    argv = [php, helper, "--ikeid", str(ikeid), "--ip", new_ip]
    try:
        res = runner(argv, timeout=timeout, ok_codes=(0, 1, 2))
    except CommandError as exc:
        raise LocalApplyError("apply-myid", f"{' '.join(argv)}: {exc}") from None
    reply = _last_json(res.stdout)
    if reply is None:
        detail = (res.stderr or res.stdout).strip().splitlines()
        raise LocalApplyError(
            "apply-myid",
            f"{helper} exited {res.returncode} without a JSON "
            "answer" + (f": {detail[-1]}" if detail else ""),
        )
    if res.returncode != 0 or "error" in reply:
        why = reply.get("error", "no reason given")
        raise LocalApplyError(
            "apply-myid",
            f"{helper} could not apply My identifier for phase 1 "
            f"{ikeid} (exit {res.returncode}): {why}",
        )
    if reply.get("new") != new_ip or not isinstance(reply.get("changed"), bool):
        raise LocalApplyError(
            "apply-myid",
            f"{helper} answered {reply!r}, expected new={new_ip!r} and a boolean 'changed'",
        )
    log.info(
        "phase 1 %s My identifier: %s -> %s (%s)",
        ikeid,
        reply.get("old"),
        new_ip,
        "changed" if reply["changed"] else "already right",
    )
    if reply.get("pending_applied"):
        log.warning(
            "IPsec edits that were pending (not yet applied) under VPN > IPsec were "
            "applied together with phase 1 %s's new My identifier",
            ikeid,
        )
    return MyidResult(reply["changed"], reply.get("old"), new_ip)


def _last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None
