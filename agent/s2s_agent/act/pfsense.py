"""pfSense backend of the local apply: read config.xml, plan the "My identifier" change, apply it.

Parsing (pure, ElementTree, no network): :func:`read_phase1` returns the IPsec phase 1 chosen
by ``ikeid`` (or ``descr``) from config.xml text, with its phase 2 entries. Decision (pure):
:func:`plan_myid`. Action: :func:`apply_myid` runs the PHP helper shipped by the package
(``/usr/local/libexec/s2s-agent/apply-myid.php``), which goes through pfSense's own config API
(``config_set_path``, ``write_config`` with a reason, ``ipsec_configure``): the agent never
writes config.xml itself. Running that helper (:func:`apply_myid`, and :func:`apply_myids`
for several phase 1s in one write) lives in :mod:`.pfsense_myid`.

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
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from ..config.pfsense import DEFAULT_CONFIG_XML, PfsenseSettings, parse_pfsense  # noqa: F401
from ..core.errors import ConfigError, LocalApplyError, S2SError
from .pfsense_myid import (  # noqa: F401 -- the helper's API, re-exported
    HELPER,
    PHP,
    MyidBatch,
    MyidOutcome,
    MyidResult,
    apply_myid,
    apply_myids,
)

log = logging.getLogger(__name__)


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


def _config_text(settings: PfsenseSettings) -> str:
    from ..core.atomic import read_regular  # never blocks on a FIFO; refuses special files

    try:
        return read_regular(settings.config_xml, 256 * 1024 * 1024).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", path=settings.config_xml) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot be read: {exc.strerror or exc} (pfsense.config_xml)", path=settings.config_xml
        ) from None


def load_phase1(settings: PfsenseSettings) -> Phase1:
    """Read ``settings.config_xml`` from disk and pick the configured phase 1 (I/O)."""
    text = _config_text(settings)
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
            f"{name} uses 'My IP address': pfSense derives it from the interface "
            "(a gateway group: its active member); rc.newwanip re-applies it",
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


class PhaseOneErrors(LocalApplyError):
    """Some tunnels' phase 1s could not take their new address; the others were applied.

    ``failed``: tunnel name -> the error naming its phase 1; ``done``: what was applied.
    """

    def __init__(self, failed: dict[str, S2SError], done: str):
        self.failed, self.done = failed, done
        why = "; ".join(f"{n}: {e}" for n, e in failed.items())
        super().__init__("apply-myid", f"{why} (applied: {done or 'nothing'})")


def apply_tunnel_myids(
    settings: PfsenseSettings,
    items: list[tuple[str, int | None, str]],
    *,
    apply: Callable[[list[tuple[int, str]], list[int]], MyidBatch] | None = None,
) -> str:
    """Re-apply the phase 1s of several tunnels (``[(tunnel name, ikeid, new address)]``;
    ikeid None: the ``pfsense`` section's phase 1) with ONE run of the helper (one
    ``write_config``). config.xml is read once and each phase 1 planned (:func:`plan_myid`);
    those whose static identifier must change are sent to be set, every other one (e.g.
    "My IP address") to be refreshed: after a gateway-group failover charon keeps the old
    local address and id until rc.ipsec regenerates IPsec 12 + 3 s later, so the helper
    regenerates it now when charon's loaded source is not pfSense's (no config write).
    Returns what was done; raises :class:`PhaseOneErrors` naming the tunnels that failed
    (the others are applied)."""
    text = _config_text(settings)
    done: list[str] = []
    failed: dict[str, S2SError] = {}
    send: dict[int, tuple[str, str | None]] = {}
    asked: list[tuple[int, str]] = []
    refresh: dict[int, list[str]] = {}
    for name, ikeid, new_ip in items:
        if ikeid is None and settings.ikeid is None and settings.descr is None:
            failed[name] = ConfigError(
                f"tunnel {name} names no pfSense phase 1; set tunnels[].pfsense.ikeid",
                key=f"tunnels[{name}].pfsense.ikeid",
            )
            continue
        try:
            descr = settings.descr if ikeid is None else None
            p1 = read_phase1(text, ikeid or settings.ikeid, descr, source=settings.config_xml)
            plan = plan_myid(p1, new_ip)
        except S2SError as exc:
            failed[name] = exc
            continue
        if plan.action == "none":
            done.append(plan.reason)
            refresh.setdefault(p1.ikeid, []).append(name)
        elif p1.ikeid in send:
            failed[name] = LocalApplyError(
                "apply-myid", f"phase 1 {p1.ikeid} is also the phase 1 of {send[p1.ikeid][0]}"
            )
        else:
            send[p1.ikeid] = (name, plan.old)
            asked.append((p1.ikeid, new_ip))
    fresh = [i for i in refresh if i not in send]  # a set one is regenerated anyway
    if asked or fresh:
        for o in (apply or apply_myids)(asked, fresh).results:
            names = refresh[o.ikeid] if o.refresh else [send[o.ikeid][0]]
            if o.error is not None:
                failed.update(dict.fromkeys(names, o.error))
            elif o.refresh:
                done.append(
                    f"phase 1 {o.ikeid}: charon's local address {o.old} -> {o.new} "
                    "(IPsec regenerated now, no config change)"
                    if o.changed
                    else f"phase 1 {o.ikeid}: charon already uses {o.new}"
                )
            else:
                done.append(
                    f"phase 1 {o.ikeid} My identifier {o.old} -> {o.new}"
                    + ("" if o.changed else " (already)")
                )
    detail = "; ".join(done)
    if failed:
        raise PhaseOneErrors(failed, detail)
    return detail
