"""Did the lab's charon load every plugin of its ``load`` list? (VICI ``stats``)

charon skips a plugin whose file is missing without failing: without ``openssl`` (package
``libstrongswan-standard-plugins``, only a Recommends of ``strongswan``) it starts, and IKE
fails later with a puzzling proposal error. The lab stops at once instead, naming the plugin,
its file and the Debian package to install.
"""

from __future__ import annotations

import socket
from pathlib import Path

import vici

from .config import PLUGINS
from .netns import LabError

PLUGIN_DIR = "/usr/lib/ipsec/plugins"
PLUGIN_PACKAGES = {
    "openssl": "libstrongswan-standard-plugins",
    "kernel-libipsec": "libcharon-extra-plugins",
    "socket-default": "strongswan-libcharon",
    "updown": "strongswan-libcharon",
    "vici": "strongswan-swanctl",
    "stroke": "strongswan-starter",
}
"""Debian 12 package of each plugin in PLUGINS that is not in ``libstrongswan`` itself
(tests/test_debian_deps.py checks every entry against ``dpkg -S``)."""


def plugin_file(name: str) -> str:
    return f"{PLUGIN_DIR}/libstrongswan-{name}.so"


def plugin_package(name: str) -> str:
    """The Debian package that ships :func:`plugin_file` of ``name``."""
    return PLUGIN_PACKAGES.get(name, "libstrongswan")


def missing(loaded: list[str]) -> list[str]:
    """The plugins of PLUGINS that are not in ``loaded``."""
    have = set(loaded)
    return [p for p in PLUGINS.split() if p not in have]


def loaded(vici_socket: str | Path, timeout: float = 5.0) -> list[str]:
    """The plugins a running charon really loaded (VICI ``stats`` -> ``plugins``)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(vici_socket))
        stats = vici.Session(sock).stats()
    except (OSError, vici.exception.SessionException) as exc:
        raise LabError(f"VICI stats on {vici_socket} failed: {exc}") from None
    finally:
        sock.close()
    return [p.decode() if isinstance(p, bytes) else str(p) for p in stats.get("plugins", [])]


def check(side: str, vici_socket: str | Path) -> None:
    """LabError naming every plugin of PLUGINS the side's charon did not load."""
    gone = missing(loaded(vici_socket))
    if gone:
        hints = ", ".join(
            f"'{p}' ({plugin_file(p)}, Debian package {plugin_package(p)})" for p in gone
        )
        raise LabError(
            f"the {side} charon did not load the plugin(s) {hints}: install the package(s) "
            "as root with `make apt` (or apt-get install them)"
        )
