"""HA: in a CARP pair only the node where the tunnel's CARP VIP is MASTER remediates.

FreeBSD's ``ifconfig IF`` prints one line per CARP vhid on the interface::

    carp: MASTER vhid 1 advbase 1 advskew 0
    carp: BACKUP vhid 2 advbase 1 advskew 100

pfSense skips IPsec keep-alive on a BACKUP node for the same reason. Without CARP
settings (``remediation.carp_interface`` / ``carp_vhid``) the node is ``standalone``.

The address Azure must hold for a phase 1 on a CARP VIP is the VIP's, not the node's own
interface address (which :func:`~s2s_agent.decide.wan.pick_primary` returns): with ``wan.source:
interface`` and CARP settings, :func:`wan_reader` reads the address carrying that vhid
(``inet 203.0.113.10 ... vhid 1``). Both nodes see the VIP, so both observe the same
address; only the MASTER acts.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from typing import Any

from ..core import osio
from ..core.errors import CommandError, ParseError
from ..decide.wan import check_public
from .wanwatch import interface_addresses, read_wan_ip

log = logging.getLogger(__name__)

_CARP = re.compile(r"^\s*carp:\s+(?P<state>[A-Z]+)\s+vhid\s+(?P<vhid>\d+)\b", re.M)


def parse_carp(ifconfig_text: str) -> dict[int, str]:
    """vhid → state (``MASTER``, ``BACKUP``, ``INIT``) from ``ifconfig`` output (pure)."""
    return {int(m["vhid"]): m["state"] for m in _CARP.finditer(ifconfig_text)}


def carp_role(
    interface: str | None, vhid: int | None, *, runner: Callable[..., osio.Result] = osio.run
) -> tuple[str, str]:
    """(role, why): role is ``standalone``, ``master``, ``backup`` or ``unknown``.

    ``unknown`` (ifconfig failed, vhid absent) means: do not act, like a BACKUP would.
    """
    if not interface or vhid is None:
        return "standalone", "no CARP configured"
    try:
        out = runner(["ifconfig", interface], timeout=5).stdout
    except CommandError as exc:
        return "unknown", f"cannot read CARP state of {interface}: {exc}"
    state = parse_carp(out).get(vhid)
    if state is None:
        return "unknown", f"{interface} has no CARP vhid {vhid} (remediation.carp_vhid)"
    if state == "MASTER":
        return "master", f"CARP vhid {vhid} on {interface} is MASTER"
    return "backup", f"CARP vhid {vhid} on {interface} is {state}: observing only"


def vip_wan_ip(
    interface: str,
    vhid: int,
    *,
    allow_private: bool = False,
    run: Callable[..., osio.Result] = osio.run,
    system: str = sys.platform,
) -> tuple[str | None, str]:
    """The address of CARP vhid ``vhid`` on ``interface`` -> (ip, "") or (None, reason)."""
    try:
        addrs = interface_addresses(interface, run=run, system=system)
    except (CommandError, ParseError) as exc:
        return None, f"cannot read the CARP VIP of {interface}: {exc}"
    ip = next((a.address for a in addrs if a.vhid == vhid), None)
    if ip is None:
        return None, f"{interface} has no address with CARP vhid {vhid} (remediation.carp_vhid)"
    why = check_public(ip, allow_private)
    if why:
        return None, f"{interface} CARP vhid {vhid}: {why} (behind NAT? use wan.source: http)"
    return ip, ""


def wan_reader(cfg: Any) -> Callable[..., tuple[str | None, str]]:
    """How the agent observes the WAN address: the CARP VIP's address when the tunnel runs
    on a CARP VIP and the source is the interface, else :func:`wanwatch.read_wan_ip`."""
    r = cfg.remediation
    if cfg.wan.source != "interface" or r.carp_interface is None or r.carp_vhid is None:
        return read_wan_ip
    interface, vhid = r.carp_interface, r.carp_vhid

    def read(settings, **_kw) -> tuple[str | None, str]:
        return vip_wan_ip(interface, vhid, allow_private=settings.allow_private)

    return read
