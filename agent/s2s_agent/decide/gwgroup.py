"""Which member of a gateway group is active, the pure part (the ``kernel`` resolver).

On pfSense the agent asks pfSense itself (``resolve-src.php``, see
:mod:`..observe.parsers.resolvesrc`): the member choice differs by release (2.7.2 omits a
gateway whose dpinger status is down; master honours the group's trigger), so the agent
must not re-derive it there. Elsewhere (plain strongSwan on Linux or FreeBSD, the lab) this
module stands in for it. It mirrors the tier choice of pfSense's
``gwlb.inc:get_gwgroup_members_inner``: members sorted by tier, a member that is down is
omitted, the **first tier with any member up** wins, and when no member is known to be up
every member counts ("Plan B"); the active member is the first of the result, whose
interface address is the phase 1's source (``interfaces.inc:get_failover_interface`` +
``get_interface_ip``). "Up" here is what the kernel knows without dpinger: the link is up
with a carrier and the interface has an IPv4 address.

Link-state parsers (pure):

- Linux ``ip -o link show dev IF``: ``3: wan0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu
  1500 ... state UP ...``: up = ``UP`` and ``LOWER_UP`` in the flags (``NO-CARRIER`` or a
  missing ``UP`` = down);
- FreeBSD ``ifconfig IF``: ``igb0: flags=8843<UP,BROADCAST,RUNNING,...>`` and ``status:
  active`` (``no carrier`` = down; no status line, e.g. a tun or lagg without one, counts
  as up when ``UP`` and ``RUNNING`` are set).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_FLAGS = re.compile(r"<([A-Z0-9_,-]*)>")
_STATUS = re.compile(r"^\s*status:\s*(.+?)\s*$", re.M)


@dataclass(frozen=True)
class MemberState:
    """What the kernel says about one member's interface."""

    up: bool | None  # None: could not be read
    address: str | None
    error: str = ""


@dataclass(frozen=True)
class Choice:
    member: Any | None  # the active GroupMember (None: no member could be chosen)
    address: str | None
    reason: str  # why this member (or why none)
    plan_b: bool = False


def parse_ip_link(text: str) -> bool | None:
    """Up (True), down (False) or unknown (None) from ``ip -o link show dev IF``."""
    m = _FLAGS.search(text)
    if m is None:
        return None
    flags = set(m.group(1).split(","))
    return "UP" in flags and "LOWER_UP" in flags and "NO-CARRIER" not in flags


def parse_ifconfig_link(text: str) -> bool | None:
    """Up, down or unknown from FreeBSD ``ifconfig IF``."""
    m = _FLAGS.search(text)
    if m is None:
        return None
    flags = set(m.group(1).split(","))
    if "UP" not in flags or "RUNNING" not in flags:
        return False
    status = _STATUS.search(text)
    return status is None or status.group(1) == "active"


def choose_member(members: Sequence[Any], states: Mapping[str, MemberState]) -> Choice:
    """The active member of a group (``members`` have ``gateway``, ``tier``, ``interface``;
    ``states`` by interface). Members of one tier keep their configured order."""
    ordered = sorted(members, key=lambda m: m.tier)  # stable: config order within a tier

    def alive(m) -> bool:
        s = states.get(m.interface)
        return s is not None and s.up is True and s.address is not None

    for m in ordered:
        if alive(m):
            state = states[m.interface]
            return Choice(
                m, state.address, f"tier {m.tier} member {m.gateway} ({m.interface}) is up"
            )
    if not ordered:
        return Choice(None, None, "the group has no members")
    first = ordered[0]  # Plan B: no member known up, every member counts: the first wins
    state = states.get(first.interface) or MemberState(None, None, "not read")
    down = "; ".join(_why_down(m, states.get(m.interface)) for m in ordered)
    if state.address is None:
        return Choice(None, None, f"no member is up ({down})", plan_b=True)
    return Choice(
        first, state.address, f"no member is up ({down}): using tier {first.tier}", plan_b=True
    )


def _why_down(m: Any, s: MemberState | None) -> str:
    if s is None:
        return f"{m.gateway} ({m.interface}) not read"
    if s.error:
        return f"{m.gateway} ({m.interface}): {s.error}"
    if s.up is not True:
        return f"{m.gateway} ({m.interface}) link down"
    return f"{m.gateway} ({m.interface}) has no IPv4 address"
