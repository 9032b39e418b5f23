"""HA: in a CARP pair only the node where the tunnel's CARP VIP is MASTER remediates.

FreeBSD's ``ifconfig IF`` prints one line per CARP vhid on the interface::

    carp: MASTER vhid 1 advbase 1 advskew 0
    carp: BACKUP vhid 2 advbase 1 advskew 100

pfSense skips IPsec keep-alive on a BACKUP node for the same reason. Without CARP
settings (``remediation.carp_interface`` / ``carp_vhid``) the node is ``standalone``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from . import osio
from .errors import CommandError

log = logging.getLogger(__name__)

_CARP = re.compile(r"^\s*carp:\s+(?P<state>[A-Z]+)\s+vhid\s+(?P<vhid>\d+)\b", re.M)


def parse_carp(ifconfig_text: str) -> dict[int, str]:
    """vhid → state (``MASTER``, ``BACKUP``, ``INIT``) from ``ifconfig`` output (pure)."""
    return {int(m["vhid"]): m["state"] for m in _CARP.finditer(ifconfig_text)}


def carp_role(interface: str | None, vhid: int | None, *,
              runner: Callable[..., osio.Result] = osio.run) -> tuple[str, str]:  # fmt: skip
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
