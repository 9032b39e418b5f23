"""Kernel events that wake the WAN watch: IPv4 address added/removed, link up/down.

One socket serves every interface the config watches (each ``interface`` source, every
gateway-group member); :meth:`AddressEvents.drain` says which of them had an event. Events
only *wake* the daemon early: a lost or unsupported event socket costs latency, never
correctness, because the daemon also polls.

- Linux: netlink ``NETLINK_ROUTE`` bound to ``RTMGRP_IPV4_IFADDR | RTMGRP_LINK``:
  ``RTM_NEWADDR``/``RTM_DELADDR`` (``struct ifaddrmsg`` + rtattrs, ``IFA_LABEL``) and
  ``RTM_NEWLINK``/``RTM_DELLINK`` (``struct ifinfomsg`` + ``IFLA_IFNAME``; up = ``IFF_UP``
  and ``IFF_LOWER_UP``, i.e. administratively up with a carrier).
- FreeBSD: a ``PF_ROUTE`` raw socket: ``RTM_NEWADDR``/``RTM_DELADDR`` (``struct
  ifa_msghdr`` of ``net/if.h``, sockaddrs as in ``net/route.h``) and ``RTM_IFINFO``
  (``struct if_msghdr``: index, flags, then ``struct if_data`` whose ``ifi_link_state``
  byte is ``LINK_STATE_UP`` = 2; ``rt_ifmsg`` of ``net/rtsock.c`` sends no name, so the
  interface is matched by its index).
"""

from __future__ import annotations

import logging
import socket
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

NETLINK_ROUTE = 0
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
NLMSG_HDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
IFINFOMSG = struct.Struct("=BxHiII")  # family, pad, type, index, flags, change
RTATTR = struct.Struct("=HH")  # len, type
RTM_NEWLINK, RTM_DELLINK = 16, 17
RTM_NEWADDR, RTM_DELADDR = 20, 21
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL = 1, 2, 3
IFLA_IFNAME = 3
IFF_UP, IFF_RUNNING, IFF_LOWER_UP = 0x1, 0x40, 0x10000

AF_ROUTE_FREEBSD = 17
RTM_VERSION = 5
FB_RTM_NEWADDR, FB_RTM_DELADDR, FB_RTM_IFINFO = 0xC, 0xD, 0xE
IFA_MSGHDR = struct.Struct("=HBBiiHHi")  # msglen, version, type, addrs, flags, index, spare, metric
IF_MSGHDR = struct.Struct("=HBBiiHH")  # msglen, version, type, addrs, flags, index, spare
IFI_LINK_STATE_OFF = IF_MSGHDR.size + 4  # if_data: type, physical, addrlen, hdrlen, link_state
LINK_STATE_UP = 2
RTAX_IFP, RTAX_IFA, RTAX_MAX = 4, 5, 8
AF_INET_FREEBSD, AF_LINK_FREEBSD = 2, 18
LONG_SIZE = 8  # sizeof(long) on amd64/arm64, the SA_SIZE() rounding of net/route.h


@dataclass(frozen=True)
class AddrEvent:
    kind: str  # "new" | "del" (an IPv4 address) | "link" (link state or flags)
    ifindex: int
    ifname: str | None  # netlink IFA_LABEL/IFLA_IFNAME or the FreeBSD sockaddr_dl name
    address: str | None
    up: bool | None = None  # "link": up with a carrier; None for address events


def _align(n: int, to: int) -> int:
    return (n + to - 1) & ~(to - 1)


def _attrs(data: bytes, a: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while a + RTATTR.size <= end:
        alen, atype = RTATTR.unpack_from(data, a)
        if alen < RTATTR.size or a + alen > end:
            break
        out[atype] = data[a + RTATTR.size : a + alen]
        a += _align(alen, 4)
    return out


def _name(raw: bytes | None) -> str | None:
    return raw.split(b"\0", 1)[0].decode(errors="replace") or None if raw else None


def decode_netlink(data: bytes) -> list[AddrEvent]:
    """Address and link events of one netlink datagram (other messages are skipped)."""
    out, off = [], 0
    while off + NLMSG_HDR.size <= len(data):
        length, mtype, _, _, _ = NLMSG_HDR.unpack_from(data, off)
        if length < NLMSG_HDR.size or off + length > len(data):
            break
        body, end = off + NLMSG_HDR.size, off + length
        if mtype in (RTM_NEWADDR, RTM_DELADDR) and length >= NLMSG_HDR.size + IFADDRMSG.size:
            family, _, _, _, index = IFADDRMSG.unpack_from(data, body)
            attrs = _attrs(data, body + IFADDRMSG.size, end)
            raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
            ip = (
                socket.inet_ntoa(raw)
                if family == socket.AF_INET and raw and len(raw) == 4
                else None
            )
            kind = "new" if mtype == RTM_NEWADDR else "del"
            out.append(AddrEvent(kind, index, _name(attrs.get(IFA_LABEL)), ip))
        elif mtype in (RTM_NEWLINK, RTM_DELLINK) and length >= NLMSG_HDR.size + IFINFOMSG.size:
            _, _, index, flags, _ = IFINFOMSG.unpack_from(data, body)
            attrs = _attrs(data, body + IFINFOMSG.size, end)
            up = mtype == RTM_NEWLINK and bool(flags & IFF_UP) and bool(flags & IFF_LOWER_UP)
            out.append(AddrEvent("link", index, _name(attrs.get(IFLA_IFNAME)), None, up))
        off += _align(length, 4)
    return out


def decode_route(data: bytes) -> list[AddrEvent]:
    """Address and link events of one FreeBSD routing-socket read."""
    out, off = [], 0
    while off + 4 <= len(data):
        msglen, version, mtype = struct.unpack_from("=HBB", data, off)
        if msglen < 4 or off + msglen > len(data):
            break
        if version != RTM_VERSION:
            pass
        elif mtype == FB_RTM_IFINFO and msglen > IFI_LINK_STATE_OFF:
            _, _, _, _, flags, index, _ = IF_MSGHDR.unpack_from(data, off)
            state = data[off + IFI_LINK_STATE_OFF]
            up = bool(flags & IFF_UP) and bool(flags & IFF_RUNNING) and state == LINK_STATE_UP
            out.append(AddrEvent("link", index, None, None, up))
        elif mtype in (FB_RTM_NEWADDR, FB_RTM_DELADDR) and msglen >= IFA_MSGHDR.size:
            _, _, _, addrs, _, index, _, _ = IFA_MSGHDR.unpack_from(data, off)
            sa, end = off + IFA_MSGHDR.size, off + msglen
            ifname = address = None
            for bit in range(RTAX_MAX):
                if not addrs & (1 << bit) or sa >= end:
                    continue
                sa_len, family = data[sa], data[sa + 1] if sa + 1 < end else 0
                if bit == RTAX_IFA and family == AF_INET_FREEBSD and sa_len >= 8:
                    address = socket.inet_ntoa(data[sa + 4 : sa + 8])
                if bit == RTAX_IFP and family == AF_LINK_FREEBSD and sa_len >= 8:
                    nlen = data[sa + 5]
                    ifname = data[sa + 8 : sa + 8 + nlen].decode(errors="replace") or None
                sa += _align(sa_len, LONG_SIZE) if sa_len else LONG_SIZE
            kind = "new" if mtype == FB_RTM_NEWADDR else "del"
            out.append(AddrEvent(kind, index, ifname, address))
        off += msglen
    return out


def _watch_set(interfaces: str | Iterable[str] | None) -> frozenset[str] | None:
    if interfaces is None:
        return None
    if isinstance(interfaces, str):
        return frozenset((interfaces,))
    return frozenset(interfaces)


class AddressEvents:
    """A non-blocking event socket for the daemon's selector. ``interfaces``: the watched
    interface names (one name, several, or None = any). :meth:`drain_names` says which of
    them may have changed (address or link), :meth:`drain` whether any did."""

    def __init__(self, sock: socket.socket, interfaces: str | Iterable[str] | None, kind: str):
        if kind not in ("netlink", "route"):
            raise ValueError(f"unknown event socket kind {kind!r}")
        sock.setblocking(False)
        self.sock, self.kind = sock, kind
        self.interfaces = _watch_set(interfaces)
        self.last: list[AddrEvent] = []

    @property
    def interface(self) -> str | None:
        """The one watched interface (None when any or several are watched)."""
        if self.interfaces is None or len(self.interfaces) != 1:
            return None
        return next(iter(self.interfaces))

    @classmethod
    def open(
        cls, interfaces: str | Iterable[str] | None, system: str = sys.platform
    ) -> AddressEvents:
        """Open the platform's event socket (OSError if it cannot)."""
        if system.startswith("linux"):
            sock = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
            )
            try:
                sock.bind((0, RTMGRP_IPV4_IFADDR | RTMGRP_LINK))
            except OSError:
                sock.close()
                raise
            return cls(sock, interfaces, "netlink")
        if system.startswith("freebsd"):
            family = getattr(socket, "AF_ROUTE", AF_ROUTE_FREEBSD)
            return cls(socket.socket(family, socket.SOCK_RAW, 0), interfaces, "route")
        raise OSError(f"no address-event socket on {system}")

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def hits(self, ev: AddrEvent) -> set[str]:
        """The watched interfaces ``ev`` may concern ({"*"} when any is watched)."""
        if self.interfaces is None:
            return {ev.ifname or "*"}
        if ev.ifname:
            base = ev.ifname.split(":", 1)[0]  # a Linux alias label: wan0:1
            return {base} & self.interfaces
        out = set()
        for name in self.interfaces:
            try:
                if ev.ifindex == socket.if_nametoindex(name):
                    out.add(name)
            except OSError:
                out.add(name)  # cannot tell: waking up for nothing is harmless
        return out

    def matches(self, ev: AddrEvent) -> bool:
        return bool(self.hits(ev))

    def drain_names(self) -> set[str]:
        """Read every pending message; the watched interfaces that may have changed."""
        decode = decode_netlink if self.kind == "netlink" else decode_route
        changed: set[str] = set()
        self.last = []
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return changed
            except OSError as exc:  # ENOBUFS: the kernel dropped events, assume a change
                log.debug("address event socket: %s", exc)
                return set(self.interfaces or {"*"})
            if not data:
                return changed
            events = decode(data)
            self.last.extend(events)
            for e in events:
                changed |= self.hits(e)

    def drain(self) -> bool:
        """Read every pending message; True if a watched interface may have changed."""
        return bool(self.drain_names())


def open_events(interfaces: str | Iterable[str] | None) -> AddressEvents | None:
    """The event socket, or None (logged) when the platform has none: polling only."""
    try:
        return AddressEvents.open(interfaces)
    except OSError as exc:
        log.warning("no address-change events (%s); polling the WAN address only", exc)
        return None
