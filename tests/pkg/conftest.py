"""Fixtures of the package tests: the builder modules and a package built once per session."""

from __future__ import annotations

import importlib
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG_DIR = ROOT / "pkg"
PORT = PKG_DIR / "pfSense-pkg-s2s-agent"
FILES = PORT / "files"
EPOCH = 1767225600  # fixed SOURCE_DATE_EPOCH for the tests


def load_builder():
    """Import pkg/build.py (and its helpers pkgformat, vendor) as modules."""
    if str(PKG_DIR) not in sys.path:
        sys.path.insert(0, str(PKG_DIR))
    return importlib.import_module("build")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"`{name}` is not installed (make setup installs it)")
    return path


def build_into(out: Path, monkeypatch: pytest.MonkeyPatch | None = None, *extra: str) -> Path:
    """Build one package (FreeBSD:14:* unless ``extra`` names an --abi); return its path."""
    build = load_builder()
    abi = [] if "--abi" in extra else ["--abi", "FreeBSD:14:*"]
    args = build.parse_args(["--out", str(out), "--skip-plist-check", *abi, *extra])
    if monkeypatch is not None:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    return build.build(args)[0]


@pytest.fixture(scope="session")
def builder():
    return load_builder()


@pytest.fixture(scope="session")
def built_pkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mp = pytest.MonkeyPatch()
    try:
        return build_into(tmp_path_factory.mktemp("dist"), mp)
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def members(built_pkg: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(built_pkg, "r:xz") as tar:
        return tar.getmembers()


@pytest.fixture(scope="session")
def manifest(built_pkg: Path) -> dict:
    import json

    with tarfile.open(built_pkg, "r:xz") as tar:
        return json.load(tar.extractfile("+MANIFEST"))


@pytest.fixture(scope="session")
def installed_root(built_pkg: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive extracted into a temporary root (what pkg add would install)."""
    root = tmp_path_factory.mktemp("root")
    with tarfile.open(built_pkg, "r:xz") as tar:
        for m in tar.getmembers():
            if m.name.startswith("+"):
                continue
            if m.isdir():
                (root / m.name.lstrip("/")).mkdir(parents=True, exist_ok=True)
                (root / m.name.lstrip("/")).chmod(m.mode)
                continue
            dest = root / m.name.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(tar.extractfile(m).read())
            dest.chmod(m.mode)
    return root


@pytest.fixture(scope="session")
def freebsd_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A python311 with nothing but the standard library (see tests/pkg/isolated.py)."""
    from .isolated import make_freebsd_python

    return make_freebsd_python(tmp_path_factory.mktemp("py311"), ())


@pytest.fixture(scope="session")
def freebsd_python_crypto(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same plus what FreeBSD's py311-cryptography installs (the optional dependency)."""
    from .isolated import CRYPTOGRAPHY_MODULES, make_freebsd_python

    return make_freebsd_python(tmp_path_factory.mktemp("py311c"), CRYPTOGRAPHY_MODULES)


@pytest.fixture(scope="session")
def launcher(installed_root: Path, freebsd_python: Path) -> Path:
    """The installed /usr/local/bin/s2s-agent, pointed at the temporary root."""
    from .isolated import make_launcher

    return make_launcher(installed_root, freebsd_python)


@pytest.fixture(scope="session")
def launcher_crypto(installed_root: Path, freebsd_python_crypto: Path) -> Path:
    """The same launcher on an interpreter that also has py311-cryptography's modules."""
    from .isolated import make_launcher

    return make_launcher(installed_root, freebsd_python_crypto, "s2s-agent-test-launcher-c")
