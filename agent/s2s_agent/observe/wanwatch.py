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

The kernel events that wake the daemon (address and link changes of every watched
interface) are in :mod:`.addrevents`; their names are re-exported here.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
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
from .addrevents import (  # noqa: F401  (re-exported: the event half moved there)
    AddressEvents,
    AddrEvent,
    decode_netlink,
    decode_route,
    open_events,
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
