"""Choose the files of the agent and its vendored pure-Python dependencies, and prune them.

The dependencies come from the project venv's site-packages (exactly the pinned versions the
tests ran with). Each distribution's file list is its ``*.dist-info/RECORD``; every pruning
rule is in :data:`PRUNE_RULES` and explained in ``pkg/PRUNING.md`` (a test keeps the two in
sync and proves the pruned tree still does what the agent needs).

Result schema of :func:`vendor_files`: a list of ``(relative_path, source_path)`` with
``relative_path`` relative to the vendored directory (``/usr/local/lib/s2s-agent``), sorted.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable
from pathlib import Path

# Pure-Python distributions shipped inside the package (importable name in the comment).
# pfSense's package repository carries few Python ports (tools/conf/pfPorts/poudriere_bulk),
# so everything but the interpreter is shipped here; compiled extensions are pruned (``*.so``)
# and each of these libraries then runs its pure-Python implementation.
VENDORED_DISTS = (
    "azure-core",  # azure.core
    "azure-identity",  # azure.identity (needs cryptography at import: used when present)
    "azure-mgmt-core",  # azure.mgmt.core
    "azure-mgmt-network",  # azure.mgmt.network
    "msal",  # msal (client-secret auth without cryptography: s2s_agent.act.credential)
    "msal-extensions",  # msal_extensions
    "PyJWT",  # jwt
    "isodate",  # isodate
    "typing_extensions",  # typing_extensions
    "vici",  # vici (strongSwan's VICI binding)
    "PyYAML",  # yaml (pure-Python loader; the libyaml extension is pruned)
    "requests",  # requests
    "urllib3",  # urllib3
    "idna",  # idna
    "certifi",  # certifi (Mozilla CA bundle, used when azure.ca_bundle is not set)
    "charset-normalizer",  # charset_normalizer (pure md.py/cd.py; mypyc builds pruned)
)

# The only hard dependency: the interpreter, a FreeBSD package every pfSense has (unbound
# needs it). FreeBSD package name -> port origin. No version: pkg(8) records the installed
# version of a dependency at build time, and pfSense CE 2.7/2.8 ship different 3.11.x.
SYSTEM_DEPS = {"python311": "lang/python311"}


# (glob over the path relative to site-packages, reason). A path matching any rule is dropped.
PRUNE_RULES: tuple[tuple[str, str], ...] = (
    ("azure/mgmt/network/aio/*", "async client: the agent uses the synchronous client only"),
    ("azure/identity/aio/*", "async credentials: the agent is synchronous"),
    ("*/__pycache__/*", "bytecode of the build host; compiled on the firewall at install"),
    ("*.pyc", "bytecode of the build host"),
    ("*.so", "compiled extensions of the build host (Linux ABI); pure-Python code runs instead"),
    ("_yaml/*", "PyYAML's shim for its libyaml extension, which is pruned"),
    ("*.pyi", "type stubs: only for type checkers"),
    ("*/py.typed", "PEP 561 marker: only for type checkers"),
    ("*/tests/*", "test suites of dependencies"),
    ("*.dist-info/RECORD", "lists files that pruning removed; pkg's manifest has the checksums"),
    ("*.dist-info/INSTALLER", "pip bookkeeping"),
    ("*.dist-info/REQUESTED", "pip bookkeeping"),
    ("*.dist-info/direct_url.json", "pip bookkeeping"),
    ("*.dist-info/WHEEL", "wheel build metadata"),
    ("*.dist-info/entry_points.txt", "console scripts of deps are not installed"),
    ("../*", "files outside site-packages (console scripts in bin/)"),
)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find_dist_info(site: Path, dist: str) -> Path:
    """The ``*.dist-info`` directory of ``dist`` in ``site`` (name normalised per PEP 503)."""
    want = _norm(dist)
    for d in sorted(site.glob("*.dist-info")):
        name = d.name[: -len(".dist-info")].rsplit("-", 1)[0]
        if _norm(name) == want:
            return d
    raise FileNotFoundError(f"{dist} is not installed in {site}; run `make venv` first")


def dist_version(site: Path, dist: str) -> str:
    return find_dist_info(site, dist).name[: -len(".dist-info")].rsplit("-", 1)[1]


def record_paths(dist_info: Path) -> list[str]:
    """Paths listed in RECORD (relative to site-packages), as written by the installer."""
    out = []
    for line in (dist_info / "RECORD").read_text().splitlines():
        if line.strip():
            out.append(line.rsplit(",", 2)[0])
    return out


def pruned_by(path: str) -> str | None:
    """The pattern of the first prune rule matching ``path`` (relative), or None."""
    for pattern, _reason in PRUNE_RULES:
        if fnmatch.fnmatchcase(path, pattern):
            return pattern
    return None


def vendor_files(site: Path, dists: Iterable[str] = VENDORED_DISTS) -> list[tuple[str, Path]]:
    """Every kept file of the vendored distributions as ``(relative path, source path)``."""
    out: dict[str, Path] = {}
    for dist in dists:
        info = find_dist_info(site, dist)
        for rel in record_paths(info):
            if pruned_by(rel):
                continue
            src = site / rel
            if not src.is_file():
                raise FileNotFoundError(f"{src} is listed in {info.name}/RECORD but missing")
            out[rel] = src
    return sorted(out.items())


def agent_files(agent_pkg: Path) -> list[tuple[str, Path]]:
    """The s2s_agent package's own sources (``s2s_agent/...``), without bytecode."""
    out = []
    for root, dirs, files in os.walk(agent_pkg):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith((".pyc", ".pyo")):
                continue
            src = Path(root) / f
            rel = Path(agent_pkg.name) / src.relative_to(agent_pkg)
            out.append((rel.as_posix(), src))
    return sorted(out)


def pruned_size(site: Path, dists: Iterable[str] = VENDORED_DISTS) -> dict[str, int]:
    """Bytes removed per prune pattern (for the build report and PRUNING.md)."""
    sizes: dict[str, int] = {}
    for dist in dists:
        for rel in record_paths(find_dist_info(site, dist)):
            pat = pruned_by(rel)
            src = site / rel
            if pat and src.is_file():
                sizes[pat] = sizes.get(pat, 0) + src.stat().st_size
    return sizes
