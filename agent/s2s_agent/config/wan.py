"""WAN settings: the ``wan`` config section (see :mod:`..decide.wan` for the pure logic).

Config section ``wan`` (written by the pfSense package; ``parse_wan`` validates it)::

    wan:
      source: interface          # interface | http
      interface: igb0            # required for source: interface
      http_endpoints: [https://a.example/ip, https://b.example/ip]   # >= 2 for source: http
      quorum: 2                  # endpoints that must agree (and be a majority of answers)
      hold_seconds: 5            # hysteresis: a new IP must hold this long ...
      hold_count: 2              # ... and be seen this many times before it counts
      allow_private: false       # labs only: accept RFC 1918/TEST-NET/CGNAT answers
      poll_interval: 30          # seconds between polls (events only wake earlier)
      http_timeout: 5            # seconds per endpoint (connect + read, whole answer)
      ca_bundle: null            # CA file for the echo endpoints (labs/tests); null = system
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .reader import Reader

SOURCES = ("interface", "http")


@dataclass(frozen=True)
class WanSettings:
    source: str = "interface"
    interface: str | None = None
    http_endpoints: tuple[str, ...] = ()
    quorum: int = 2
    hold_seconds: float = 5.0
    hold_count: int = 2
    allow_private: bool = False
    poll_interval: float = 30.0
    http_timeout: float = 5.0
    ca_bundle: str | None = None


def parse_wan(data: dict | None, path: str = "<config>", *, shared: bool = False) -> WanSettings:
    """Validate the ``wan`` section (pure); ConfigError names the key (``wan.quorum``).

    ``shared``: the tunnels form, where ``wan`` holds the tracker settings for every tunnel
    and each tunnel names its own source; ``source``/``interface`` there are then optional
    (a default for tunnels that name none)."""
    r = Reader(data, "wan", path)
    if shared and not {"source", "interface"} & set(r.data):
        r.used.update(("source", "interface"))
        shared_only = True
    else:
        shared_only = False
    source = r.choice("source", SOURCES, "interface")
    interface = r.text("interface", None, nullable=True)
    raw = r.get("http_endpoints", list, [], nullable=True) or []
    endpoints: list[str] = []
    for i, url in enumerate(raw):
        why = check_url(url)
        if why:
            raise r.err(f"http_endpoints[{i}]", f"must be an https:// URL ({why}), got {url!r}")
        if url in endpoints:
            raise r.err(f"http_endpoints[{i}]", f"duplicate endpoint {url!r}")
        endpoints.append(url)
    quorum = _int(r, "quorum", 2, 2, 16)
    ca = r.text("ca_bundle", None, nullable=True)
    if ca is not None and not ca.startswith("/"):
        raise r.err("ca_bundle", f"must be an absolute path, got {ca!r}")
    settings = WanSettings(
        source=source,
        interface=interface,
        http_endpoints=tuple(endpoints),
        quorum=quorum,
        hold_seconds=r.number("hold_seconds", 5.0, minimum=0, maximum=3600),
        hold_count=_int(r, "hold_count", 2, 1, 100),
        allow_private=r.get("allow_private", bool, False),
        poll_interval=r.number("poll_interval", 30.0, minimum=1, maximum=3600),
        http_timeout=r.number("http_timeout", 5.0, minimum=0.5, maximum=60),
        ca_bundle=ca,
    )
    r.done()
    if source == "interface" and not interface and not shared_only:
        raise r.err("interface", "is required when wan.source is interface (e.g. igb0)")
    if source == "http":
        if len(endpoints) < 2:
            raise r.err("http_endpoints", "list at least 2 https:// endpoints for source http")
        if quorum > len(endpoints):
            raise r.err("quorum", f"is {quorum} but only {len(endpoints)} endpoints are listed")
    return settings


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def check_url(url: Any) -> str | None:
    """Why ``url`` cannot be an echo endpoint (``https://host[:port][/path]``), or None.

    Checked as urllib3 will parse it, so a typo (``https://api.ipify..org/``) is a config
    error at validation instead of a failure at every poll.
    """
    if not isinstance(url, str):
        return "not a string"
    if len(url) > 2048 or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return "too long, or it contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError as exc:
        return str(exc)
    if parts.scheme.lower() != "https":
        return "the scheme must be https"
    if parts.username is not None or parts.password is not None:
        return "no user:password@ in the URL"
    host = parts.hostname or ""
    if not host:
        return "no host name"
    if port == 0:
        return "port 0"
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"{host!r} is not an IPv6 address"
        return None
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        return f"{host!r} is not a valid host name (empty label or bad character)"
    return None


def _int(r: Reader, name: str, default: int, lo: int, hi: int) -> int:
    value = r.get(name, int, default)
    if not lo <= value <= hi:
        raise r.err(name, f"must be between {lo} and {hi}, got {value}")
    return value
