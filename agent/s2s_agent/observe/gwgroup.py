"""A gateway group's source address now: the two resolvers behind one seam.

Both return ``(ip, reason, via)`` for the WAN tracker (the same hold/hysteresis as an
interface address change, so a flapping member cannot burn the Azure write limit);
``via`` says which member is active (status: group, gateway, tier, interface, address).

- ``pfsense`` (:func:`pfsense_group_ip`): runs the package's ``resolve-src.php`` for the
  tunnels' phase 1s (pfSense resolves the group exactly as ``ipsec_configure`` does); the
  daemon calls it on a worker thread, and the command has a deadline that kills it.
- ``kernel`` (:func:`kernel_group_ip`): reads each member's link state and addresses and
  applies :func:`~s2s_agent.decide.gwgroup.choose_member` (pfSense's tier choice) -- for
  plain strongSwan and the lab.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..core import osio
from ..core.errors import CommandError, ParseError
from ..decide.gwgroup import MemberState, choose_member, parse_ifconfig_link, parse_ip_link
from ..decide.wan import check_public, parse_ifconfig, parse_ip_addr, pick_primary
from .parsers.resolvesrc import parse_resolve_src

PHP = "/usr/local/bin/php"
HELPER = "/usr/local/libexec/s2s-agent/resolve-src.php"
HELPER_TIMEOUT = 10.0
"""Seconds the helper may take (php start + pfSense's includes + dpinger status reads)."""

Runner = Callable[..., osio.Result]
Reading = tuple[str | None, str, dict | None]


def member_state(
    interface: str, *, run: Runner = osio.run, system: str = sys.platform, timeout: float = 5
) -> MemberState:
    """Link state and primary IPv4 address of one member's interface (never raises)."""
    try:
        if system.startswith("freebsd"):
            text = run(["ifconfig", interface], timeout=timeout).stdout
            return MemberState(parse_ifconfig_link(text), pick_primary(parse_ifconfig(text)))
        link = run(["ip", "-o", "link", "show", "dev", interface], timeout=timeout).stdout
        up = parse_ip_link(link)
        addr = run(["ip", "-4", "-o", "addr", "show", "dev", interface], timeout=timeout).stdout
        return MemberState(up, pick_primary(parse_ip_addr(addr)))
    except (CommandError, ParseError) as exc:
        return MemberState(None, None, str(exc)[:200])


def kernel_group_ip(
    group: str,
    members: Sequence[Any],
    *,
    allow_private: bool = False,
    run: Runner = osio.run,
    system: str = sys.platform,
) -> Reading:
    """The active member's address by the kernel's link and address state."""
    states = {
        m.interface: member_state(m.interface, run=run, system=system)
        for m in {m.interface: m for m in members}.values()
    }
    choice = choose_member(members, states)
    if choice.member is None or choice.address is None:
        return None, f"gateway group {group}: {choice.reason}", None
    m = choice.member
    via = {
        "source": "gateway_group",
        "resolver": "kernel",
        "group": group,
        "gateway": m.gateway,
        "tier": m.tier,
        "interface": m.interface,
        "address": choice.address,
        "carp": None,
        "detail": choice.reason,
    }
    why = check_public(choice.address, allow_private)
    if why:
        return None, f"gateway group {group} via {m.interface}: {why}", via
    return choice.address, "", via


def resolve_src(
    ikeids: Sequence[int],
    *,
    run: Runner = osio.run,
    php: str = PHP,
    helper: str = HELPER,
    timeout: float = HELPER_TIMEOUT,
):
    """Ask pfSense where each phase 1 sources from (CommandError / ParseError)."""
    argv = [php, helper, *(str(i) for i in ikeids)]
    res = run(argv, timeout=timeout, ok_codes=(0, 1, 2))
    return parse_resolve_src(res.stdout, res.returncode, tuple(ikeids))


def pfsense_group_ip(
    group: str,
    ikeids: Sequence[int],
    *,
    allow_private: bool = False,
    run: Runner = osio.run,
    timeout: float = HELPER_TIMEOUT,
) -> Reading:
    """The tunnels' source address as pfSense resolves it (the first phase 1 answering).

    Tunnels on one group share one address; phase 1s that disagree (pfSense in the middle of
    a change) give no address this time: the tracker keeps the last one."""
    try:
        answers = resolve_src(ikeids, run=run, timeout=timeout)
    except (CommandError, ParseError) as exc:
        return None, f"gateway group {group}: {exc}", None
    first = answers[ikeids[0]]
    via = {
        "source": first.kind,
        "resolver": "pfsense",
        "group": first.group or group,
        "gateway": first.gateway,
        "tier": first.tier,
        "interface": first.realif,
        "address": first.address,
        "carp": first.carp,
        "detail": first.error,
    }
    if first.address is None:
        return None, f"gateway group {group}: pfSense cannot resolve it: {first.error}", via
    odd = sorted({answers[i].address for i in ikeids} - {first.address}, key=str)
    if odd:
        return (
            None,
            f"gateway group {group}: phase 1s resolve to different addresses "
            f"({first.address} vs {', '.join(map(str, odd))}); reading again",
            via,
        )
    why = check_public(first.address, allow_private)
    if why:
        return None, f"gateway group {group} via {first.realif}: {why}", via
    return first.address, "", via
