"""WAN IP detection, the pure part: address checks, parsers, quorum, hysteresis.

Nothing here does I/O (``wanwatch.py`` asks the interface and the HTTP endpoints); every
function is deterministic and unit-tested, including with hypothesis.

The ``wan`` config section (its keys and defaults) is described in :mod:`..config.wan`.

Interface address choice: the *primary* IPv4 address, i.e. the first one that is not a
CARP VIP (FreeBSD ``vhid``) nor a Linux ``secondary``; a WAN with only VIPs yields the
first VIP. pfSense puts CARP VIPs and IP aliases on the same interface; the tunnel's
identifier is the interface address, not the VIP.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ParseError

log = logging.getLogger(__name__)

MAX_BODY = 64
"""An echo endpoint's answer longer than this is refused (an IPv4 literal is <= 15)."""

# Not public: what an ISP never assigns as a WAN address (IANA special-purpose registry).
NON_PUBLIC = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # CGNAT, RFC 6598
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes 255.255.255.255 broadcast
    )
)
_DOTTED = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$")


# ---- address checks ------------------------------------------------------------------


def check_public(ip: str, allow_private: bool = False) -> str | None:
    """Why ``ip`` (an IPv4 literal) cannot be a WAN address, or None if it can."""
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        return f"{ip!r} is not an IPv4 address"
    if allow_private:
        return None
    for net in NON_PUBLIC:
        if addr in net:
            return f"{ip} is not public (in {net}); set wan.allow_private only in labs"
    return None


def parse_echo_body(body: bytes, allow_private: bool = False) -> tuple[str | None, str]:
    """An echo endpoint's body -> (ip, "") or (None, why it is refused).

    Accepted: one dotted-quad IPv4 literal, surrounding whitespace trimmed, ASCII only,
    at most MAX_BODY bytes, public unless ``allow_private``. Anything else (HTML, JSON,
    two addresses, IPv6, leading zeros) is refused: a broken endpoint must not count.
    """
    if len(body) > MAX_BODY:
        return None, f"body longer than {MAX_BODY} bytes"
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError:
        return None, "body is not ASCII text"
    if not text:
        return None, "empty body"
    if not _DOTTED.match(text):
        return None, f"not a single IPv4 literal: {text[:32]!r}"
    try:
        ipaddress.IPv4Address(text)  # refuses octets > 255 and leading zeros
    except ValueError:
        return None, f"not a valid IPv4 address: {text!r}"
    why = check_public(text, allow_private)
    return (None, why) if why else (text, "")


# ---- interface address parsers ---------------------------------------------------------


@dataclass(frozen=True)
class IfAddr:
    address: str
    prefixlen: int
    primary: bool  # False for a Linux "secondary" or a FreeBSD CARP VIP ("vhid N")
    vhid: int | None = None


def parse_ip_addr(text: str) -> list[IfAddr]:
    """Parse Linux ``ip -4 -o addr show dev IF`` output.

    Line (iproute2, one per address)::

        5: wan0    inet 198.51.100.2/24 brd 198.51.100.255 scope global [secondary] wan0\\ ...
        7: ppp0    inet 100.64.1.2 peer 100.64.0.1/32 scope global ppp0\\ ...

    Schema: ``[{"address": str, "prefixlen": int, "primary": bool, "vhid": null}]`` in
    kernel order. Non-inet lines are ignored; a malformed inet line raises ParseError.
    """
    out: list[IfAddr] = []
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if "inet" not in words:
            continue
        i = words.index("inet")
        try:
            local = words[i + 1]
            if "peer" in words and words.index("peer") == i + 2:
                local += "/" + words[i + 3].partition("/")[2]
            addr, _, plen = local.partition("/")
            ipaddress.IPv4Address(addr)
            prefixlen = int(plen) if plen else 32
        except (IndexError, ValueError):
            raise ParseError("ip addr", f"malformed inet line: {line.strip()!r}", line=n) from None
        out.append(IfAddr(addr, prefixlen, "secondary" not in words))
    return out


def parse_ifconfig(text: str) -> list[IfAddr]:
    """Parse FreeBSD ``ifconfig IF inet`` output (sbin/ifconfig/af_inet.c format).

    Lines::

        igb0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
        \\tinet 203.0.113.10 netmask 0xffffff00 broadcast 203.0.113.255
        \\tinet 203.0.113.20 netmask 0xffffffff broadcast 203.0.113.20 vhid 1
        \\tinet 100.64.1.2 --> 100.64.0.1 netmask 0xffffffff          (pppoe0)

    Schema: as :func:`parse_ip_addr`; ``primary`` is False and ``vhid`` set for CARP VIPs.
    """
    out: list[IfAddr] = []
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0] != "inet":
            continue
        try:
            addr = words[1]
            ipaddress.IPv4Address(addr)
            mask = words[words.index("netmask") + 1]
            prefixlen = bin(int(mask, 16)).count("1")
            vhid = int(words[words.index("vhid") + 1]) if "vhid" in words else None
        except (IndexError, ValueError):
            raise ParseError("ifconfig", f"malformed inet line: {line.strip()!r}", line=n) from None
        out.append(IfAddr(addr, prefixlen, vhid is None, vhid))
    return out


def pick_primary(addrs: Sequence[IfAddr]) -> str | None:
    """The first primary address, else the first address, else None."""
    for a in addrs:
        if a.primary:
            return a.address
    return addrs[0].address if addrs else None


# ---- HTTP quorum ---------------------------------------------------------------------


@dataclass(frozen=True)
class EchoAnswer:
    endpoint: str
    ip: str | None  # a checked public IPv4 literal, or None with ``error``
    error: str = ""


@dataclass(frozen=True)
class QuorumResult:
    ip: str | None
    reason: str
    votes: dict[str, int] = field(default_factory=dict)


def decide_quorum(answers: Sequence[EchoAnswer], quorum: int) -> QuorumResult:
    """Accept an IP only if >= ``quorum`` endpoints gave it AND it is a strict majority of
    the valid answers; otherwise no decision and a reason an admin can read.

    So one lying endpoint can neither move the result nor, with a majority, block it;
    a tie between two addresses is no decision.
    """
    votes = Counter(a.ip for a in answers if a.ip is not None)
    broken = [f"{a.endpoint}: {a.error}" for a in answers if a.ip is None]
    tail = f"; refused: {'; '.join(broken)}" if broken else ""
    if not votes:
        return QuorumResult(None, f"no endpoint gave a usable answer{tail}", {})
    (best, n), valid = votes.most_common(1)[0], sum(votes.values())
    summary = ", ".join(f"{ip} x{c}" for ip, c in votes.most_common())
    if n < quorum:
        return QuorumResult(None, f"no quorum ({quorum} needed): {summary}{tail}", dict(votes))
    if n * 2 <= valid:
        return QuorumResult(None, f"endpoints disagree: {summary}{tail}", dict(votes))
    return QuorumResult(best, f"{n} of {len(answers)} endpoints agree{tail}", dict(votes))


# ---- hysteresis ------------------------------------------------------------------------


@dataclass(frozen=True)
class WanDecision:
    current: str | None  # the confirmed WAN IP (None until the first observation)
    candidate: str | None  # a new IP waiting for its hold to pass
    changed: bool  # True exactly once, when ``candidate`` becomes ``current``
    reason: str
    old: str | None = None  # the IP before the change (only when ``changed``)


class WanTracker:
    """Hysteresis over observations (pure state machine; ``now`` is a monotonic time).

    A new IP becomes current only after it was seen ``hold_count`` times in a row (None
    observations do not break the row) spanning at least ``hold_seconds``; seeing the
    current IP again cancels the pending change; a third IP restarts the hold. ``previous``
    is the persisted IP of the last run: it starts as current, so an IP that differs at
    startup fires (after its hold); without it the first IP is adopted silently.
    """

    def __init__(self, hold_seconds: float, hold_count: int = 1, previous: str | None = None):
        if hold_seconds < 0 or hold_count < 1:
            raise ValueError("hold_seconds must be >= 0 and hold_count >= 1")
        self.hold_seconds, self.hold_count = hold_seconds, hold_count
        self.current = previous
        self.candidate: str | None = None
        self.since = 0.0
        self.count = 0

    def state(self) -> dict[str, Any]:
        return {"current": self.current, "candidate": self.candidate, "seen": self.count}

    def _decision(self, reason: str, changed: bool = False, old: str | None = None):
        return WanDecision(self.current, self.candidate, changed, reason, old)

    def observe(self, ip: str | None, now: float) -> WanDecision:
        if ip is None:
            return self._decision("no answer: nothing confirmed or cancelled")
        if self.current is None:
            self.current = ip
            return self._decision(f"initial WAN IP {ip}")
        if ip == self.current:
            if self.candidate is not None:
                old, self.candidate, self.count = self.candidate, None, 0
                log.info("WAN IP back to %s: pending change to %s cancelled", ip, old)
                return self._decision(f"back to {ip}; pending change to {old} cancelled")
            return self._decision(f"unchanged {ip}")
        if ip != self.candidate or now < self.since:
            self.candidate, self.since, self.count = ip, now, 0
        self.count += 1
        held = now - self.since
        if held >= self.hold_seconds and self.count >= self.hold_count:
            old, self.current, self.candidate, self.count = self.current, ip, None, 0
            log.info("WAN IP changed %s -> %s (held %.1fs)", old, ip, held)
            return self._decision(f"changed {old} -> {ip} after {held:.1f}s", True, old)
        return self._decision(
            f"{ip} pending: seen {self.count}/{self.hold_count}, "
            f"held {held:.1f}/{self.hold_seconds:g}s"
        )
