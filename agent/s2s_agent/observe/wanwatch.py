"""WAN IP detection, the I/O part: interface address, address-change events, HTTP echoes.

Usage (the daemon)::

    events = open_events(settings.interface)      # None: polling only (logged)
    selector.register(events, EVENT_READ, ...)    # events.fileno()
    if events.drain(): poll now                   # else poll every settings.poll_interval
    ip, reason = read_wan_ip(settings)            # -> feed WanTracker.observe(ip, now)

Interface lookup runs ``ip -4 -o addr show dev IF`` (Linux) or ``ifconfig IF inet``
(FreeBSD) through :func:`osio.run` rather than an ioctl: SIOCGIFADDR returns one address
and needs per-OS struct layouts, while the command lists every address with its flags
(secondary / CARP ``vhid``), which the primary-address rule needs; one fork per poll is cheap.

Events only *wake* the daemon early: a lost or unsupported event socket costs latency, never
correctness, because the daemon also polls. Linux: netlink ``NETLINK_ROUTE`` bound to
``RTMGRP_IPV4_IFADDR``. FreeBSD: a ``PF_ROUTE`` raw socket reading ``RTM_NEWADDR`` /
``RTM_DELADDR`` (``struct ifa_msghdr`` of ``net/if.h``, sockaddrs as in ``net/route.h``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ..config.wan import WanSettings
from ..core import osio
from ..core.errors import CommandError, ParseError
from ..decide.wan import (
    MAX_BODY,
    EchoAnswer,
    IfAddr,
    QuorumResult,
    check_public,
    decide_quorum,
    parse_echo_body,
    parse_ifconfig,
    parse_ip_addr,
    pick_primary,
)

log = logging.getLogger(__name__)

QUORUM_GRACE = 1.0
"""Seconds past ``wan.http_timeout`` after which the HTTP quorum stops waiting for any endpoint."""

Runner = Callable[..., osio.Result]

# ---- interface source ------------------------------------------------------------------


def interface_addresses(
    interface: str, *, run: Runner = osio.run, system: str = sys.platform, timeout: float = 5
) -> list[IfAddr]:
    """IPv4 addresses of ``interface`` in kernel order (CommandError / ParseError)."""
    if system.startswith("freebsd"):
        res = run(["ifconfig", interface, "inet"], timeout=timeout)
        return parse_ifconfig(res.stdout)
    res = run(["ip", "-4", "-o", "addr", "show", "dev", interface], timeout=timeout)
    return parse_ip_addr(res.stdout)


def interface_wan_ip(
    interface: str,
    *,
    allow_private: bool = False,
    run: Runner = osio.run,
    system: str = sys.platform,
) -> tuple[str | None, str]:
    """The primary IPv4 address of ``interface`` -> (ip, "") or (None, reason)."""
    try:
        addrs = interface_addresses(interface, run=run, system=system)
    except (CommandError, ParseError) as exc:
        return None, f"cannot read the address of {interface}: {exc}"
    ip = pick_primary(addrs)
    if ip is None:
        return None, f"{interface} has no IPv4 address"
    why = check_public(ip, allow_private)
    if why:
        return None, f"{interface}: {why} (behind NAT? use wan.source: http)"
    return ip, ""


# ---- address-change events ------------------------------------------------------------

NETLINK_ROUTE = 0
RTMGRP_IPV4_IFADDR = 0x10
NLMSG_HDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTATTR = struct.Struct("=HH")  # len, type
RTM_NEWADDR, RTM_DELADDR = 20, 21
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL = 1, 2, 3

AF_ROUTE_FREEBSD = 17
RTM_VERSION = 5
FB_RTM_NEWADDR, FB_RTM_DELADDR = 0xC, 0xD
IFA_MSGHDR = struct.Struct("=HBBiiHHi")  # msglen, version, type, addrs, flags, index, spare, metric
RTAX_IFP, RTAX_IFA, RTAX_MAX = 4, 5, 8
AF_INET_FREEBSD, AF_LINK_FREEBSD = 2, 18
LONG_SIZE = 8  # sizeof(long) on amd64/arm64, the SA_SIZE() rounding of net/route.h


@dataclass(frozen=True)
class AddrEvent:
    kind: str  # "new" | "del"
    ifindex: int
    ifname: str | None  # netlink IFA_LABEL or the FreeBSD sockaddr_dl name, if present
    address: str | None


def _align(n: int, to: int) -> int:
    return (n + to - 1) & ~(to - 1)


def decode_netlink(data: bytes) -> list[AddrEvent]:
    """RTM_NEWADDR/RTM_DELADDR events of one netlink datagram (others are skipped)."""
    out, off = [], 0
    while off + NLMSG_HDR.size <= len(data):
        length, mtype, _, _, _ = NLMSG_HDR.unpack_from(data, off)
        if length < NLMSG_HDR.size or off + length > len(data):
            break
        if mtype in (RTM_NEWADDR, RTM_DELADDR) and length >= NLMSG_HDR.size + IFADDRMSG.size:
            body = off + NLMSG_HDR.size
            family, _, _, _, index = IFADDRMSG.unpack_from(data, body)
            attrs: dict[int, bytes] = {}
            a, end = body + IFADDRMSG.size, off + length
            while a + RTATTR.size <= end:
                alen, atype = RTATTR.unpack_from(data, a)
                if alen < RTATTR.size:
                    break
                attrs[atype] = data[a + RTATTR.size : a + alen]
                a += _align(alen, 4)
            raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
            label = attrs.get(IFA_LABEL)
            out.append(
                AddrEvent(
                    "new" if mtype == RTM_NEWADDR else "del",
                    index,
                    label.split(b"\0", 1)[0].decode(errors="replace") if label else None,
                    socket.inet_ntoa(raw)
                    if family == socket.AF_INET and raw and len(raw) == 4
                    else None,
                )
            )
        off += _align(length, 4)
    return out


def decode_route(data: bytes) -> list[AddrEvent]:
    """RTM_NEWADDR/RTM_DELADDR events of one FreeBSD routing-socket read."""
    out, off = [], 0
    while off + 4 <= len(data):
        msglen, version, mtype = struct.unpack_from("=HBB", data, off)
        if msglen < 4 or off + msglen > len(data):
            break
        if (
            version == RTM_VERSION
            and mtype in (FB_RTM_NEWADDR, FB_RTM_DELADDR)
            and msglen >= IFA_MSGHDR.size
        ):
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


class AddressEvents:
    """A non-blocking event socket for the daemon's selector; ``drain()`` says if the
    watched interface (None = any) had an IPv4 address added or removed."""

    def __init__(self, sock: socket.socket, interface: str | None, kind: str):
        if kind not in ("netlink", "route"):
            raise ValueError(f"unknown event socket kind {kind!r}")
        sock.setblocking(False)
        self.sock, self.interface, self.kind = sock, interface, kind
        self.last: list[AddrEvent] = []

    @classmethod
    def open(cls, interface: str | None, system: str = sys.platform) -> AddressEvents:
        """Open the platform's address-event socket (OSError if it cannot)."""
        if system.startswith("linux"):
            sock = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
            )
            try:
                sock.bind((0, RTMGRP_IPV4_IFADDR))
            except OSError:
                sock.close()
                raise
            return cls(sock, interface, "netlink")
        if system.startswith("freebsd"):
            family = getattr(socket, "AF_ROUTE", AF_ROUTE_FREEBSD)
            return cls(socket.socket(family, socket.SOCK_RAW, 0), interface, "route")
        raise OSError(f"no address-event socket on {system}")

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def matches(self, ev: AddrEvent) -> bool:
        if self.interface is None:
            return True
        if ev.ifname:
            return ev.ifname == self.interface or ev.ifname.startswith(self.interface + ":")
        try:
            return ev.ifindex == socket.if_nametoindex(self.interface)
        except OSError:
            return True  # cannot tell: waking up for nothing is harmless

    def drain(self) -> bool:
        """Read every pending message; True if the watched interface may have changed."""
        decode = decode_netlink if self.kind == "netlink" else decode_route
        changed, self.last = False, []
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return changed
            except OSError as exc:  # ENOBUFS: the kernel dropped events, assume a change
                log.debug("address event socket: %s", exc)
                return True
            if not data:
                return changed
            events = decode(data)
            self.last.extend(events)
            changed |= any(self.matches(e) for e in events)


def open_events(interface: str | None) -> AddressEvents | None:
    """The event socket, or None (logged) when the platform has none: polling only."""
    try:
        return AddressEvents.open(interface)
    except OSError as exc:
        log.warning("no address-change events (%s); polling the WAN address only", exc)
        return None


# ---- HTTP echo source ------------------------------------------------------------------


def query_endpoint(
    session: Any,
    url: str,
    *,
    timeout: float,
    verify: str | bool = True,
    allow_private: bool = False,
) -> EchoAnswer:
    """Ask one "what is my IP" endpoint; any failure becomes an EchoAnswer with ``error``.

    No redirects are followed (a 3xx is refused), only HTTP 200 counts, the body is read
    to at most MAX_BODY + 1 bytes and the whole answer must arrive within ``timeout``.
    """
    import requests

    deadline = time.monotonic() + timeout
    try:
        with session.get(
            url,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
            verify=verify,
            headers={"Accept": "text/plain", "User-Agent": "s2s-agent"},
        ) as resp:
            if resp.status_code != 200:
                return EchoAnswer(url, None, f"HTTP {resp.status_code}")
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_BODY:
                return EchoAnswer(url, None, f"body longer than {MAX_BODY} bytes")
            body = b""
            for chunk in resp.iter_content(chunk_size=16):
                body += chunk
                if len(body) > MAX_BODY:
                    break
                if time.monotonic() > deadline:
                    return EchoAnswer(url, None, f"timed out after {timeout:g}s")
    except requests.exceptions.Timeout:
        return EchoAnswer(url, None, f"timed out after {timeout:g}s")
    except requests.exceptions.SSLError:
        return EchoAnswer(url, None, "TLS verification failed")
    except requests.exceptions.RequestException as exc:
        return EchoAnswer(url, None, f"request failed: {type(exc).__name__}")
    except Exception as exc:  # urllib3's LocationParseError and anything else: one bad answer
        return EchoAnswer(url, None, f"request failed: {type(exc).__name__}: {str(exc)[:120]}")
    ip, why = parse_echo_body(body, allow_private)
    return EchoAnswer(url, ip, why)


def _abortable_session() -> tuple[Any, Callable[[], None]]:
    """A requests Session and a function that shuts down every socket it opened.

    requests' timeouts apply to each socket read, so a server that trickles its headers one
    byte at a time never trips them; shutting the socket down at the quorum's deadline ends
    the blocked read, so no thread (nor file descriptor) outlives a poll.
    """
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connectionpool import HTTPSConnectionPool

    conns: list[Any] = []
    lock = threading.Lock()

    class Pool(HTTPSConnectionPool):
        def _new_conn(self):  # type: ignore[override]
            conn = super()._new_conn()
            with lock:
                conns.append(conn)
            return conn

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):  # type: ignore[override]
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                **self.poolmanager.pool_classes_by_scheme,
                "https": Pool,
            }

    def abort() -> None:
        with lock:
            opened = list(conns)
        for conn in opened:
            sock = getattr(conn, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    session = requests.Session()
    session.mount("https://", Adapter())
    return session, abort


def query_endpoints(
    endpoints: Sequence[str],
    *,
    timeout: float,
    verify: str | bool = True,
    allow_private: bool = False,
    session: Any = None,
) -> list[EchoAnswer]:
    """Ask every endpoint in parallel (so one slow endpoint costs at most ``timeout``).

    The whole quorum ends ``QUORUM_GRACE`` after ``timeout``: an endpoint still talking then
    is a timed-out answer, and (with our own session) its connection is shut down.
    """
    own = session is None
    abort: Callable[[], None] = lambda: None  # noqa: E731
    if own:
        session, abort = _abortable_session()
    pool = ThreadPoolExecutor(max_workers=max(1, len(endpoints)), thread_name_prefix="wan-echo")
    try:
        futures = [
            pool.submit(
                query_endpoint,
                session,
                url,
                timeout=timeout,
                verify=verify,
                allow_private=allow_private,
            )
            for url in endpoints
        ]
        wait(futures, timeout=timeout + QUORUM_GRACE)
        return [
            f.result() if f.done() else EchoAnswer(url, None, f"timed out after {timeout:g}s")
            for url, f in zip(endpoints, futures, strict=True)
        ]
    finally:
        abort()
        pool.shutdown(wait=False, cancel_futures=True)
        if own:
            session.close()


def http_wan_ip(settings: WanSettings, *, session: Any = None) -> QuorumResult:
    """The WAN IP by quorum of the configured echo endpoints."""
    answers = query_endpoints(
        settings.http_endpoints,
        timeout=settings.http_timeout,
        verify=settings.ca_bundle or True,
        allow_private=settings.allow_private,
        session=session,
    )
    result = decide_quorum(answers, settings.quorum)
    if result.ip is None:
        log.warning("WAN IP by HTTP: no decision: %s", result.reason)
    return result


def read_wan_ip(
    settings: WanSettings, *, run: Runner = osio.run, session: Any = None
) -> tuple[str | None, str]:
    """One observation for :class:`~s2s_agent.decide.wan.WanTracker`: (ip, "") or (None, reason)."""
    if settings.source == "http":
        result = http_wan_ip(settings, session=session)
        return result.ip, "" if result.ip else result.reason
    assert settings.interface is not None
    return interface_wan_ip(settings.interface, allow_private=settings.allow_private, run=run)
