"""Shared fixtures. ``lab``: the real two-peer strongSwan lab, built once per session."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeazure.fixtures import fake_azure, fake_azure_server  # noqa: F401
from tests.lab.lab import CHARON, Lab

LAB_PREFIX = os.environ.get("S2S_LAB_PREFIX", f"s2st{os.getpid()}")
"""Namespace prefix of the test lab: one per pytest process, so two test runs (or a manual
``python -m tests.lab up`` / ``make demo`` lab, prefix ``s2s``) never tear each other down.
Leftovers of crashed runs (``s2st<pid>-*`` whose pid is gone) are removed at session start."""

_LEFTOVER = re.compile(r"^(s2st(\d+))-(?:onprem|azure)$")


def remove_crashed_test_labs(tmp: Path) -> None:
    """Tear down lab namespaces of earlier pytest processes that no longer exist."""
    netns_dir = Path("/run/netns")
    names = sorted(p.name for p in netns_dir.iterdir()) if netns_dir.is_dir() else []
    for prefix in {
        m.group(1) for n in names if (m := _LEFTOVER.match(n)) and not _pid_alive(m.group(2))
    }:
        Lab(tmp, prefix=prefix, autoclean=False).down()


def _pid_alive(pid: str) -> bool:
    return Path("/proc", pid).exists()


def lab_unavailable_reason() -> str | None:
    """Why the real lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "the strongSwan lab needs root (network namespaces, mounts)"
    if not Path(CHARON).exists():
        return f"{CHARON} is missing (apt-get install strongswan-charon; or run `make setup`)"
    for tool in ("ip", "nsenter", "swanctl", "ping"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (run `make setup`)"
    return None


def ensure_tunnel(lab: Lab, child: str = "con1", timeout: float = 20) -> None:
    """Bring ``child`` back to a working in-tunnel ping (restarts a dead azure charon)."""
    if lab.ping(1):
        return
    for side in ("azure", "onprem"):
        lab.start_charon(side)
    if _has_sa(lab, child):  # a stale SA (peer died) would only recover after DPD
        lab.terminate_ike(child, timeout=3, force=True)
    lab.initiate(child)
    lab.wait_for(lambda: lab.ping(1), timeout, what=f"in-tunnel ping over {child}")


def _has_sa(lab: Lab, name: str) -> bool:
    out = lab.swanctl("onprem", "--list-sas", "--ike", name, ok_codes=(0, 1)).stdout
    return out.startswith(f"{name}:")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The lab with ``con1`` initiated and a ping proving the tunnel works; always torn down."""
    from tests.helpers.multiwan import require_lab

    require_lab()
    remove_crashed_test_labs(tmp_path_factory.mktemp("leftovers"))
    the_lab = Lab(tmp_path_factory.mktemp("lab"), prefix=LAB_PREFIX)
    try:
        the_lab.up()
        the_lab.initiate("con1")
        the_lab.wait_for(lambda: the_lab.ping(1), 10, what="the first in-tunnel ping")
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture
def tunnel(lab: Lab) -> Iterator[Lab]:
    """Function-scoped: the lab with a working con1; restored afterwards for the next test."""
    ensure_tunnel(lab)
    yield lab
    ensure_tunnel(lab)
