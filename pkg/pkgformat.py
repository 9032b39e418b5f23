"""Write FreeBSD pkg(8) archives (``.pkg``) on any OS, reproducibly, with Python's stdlib.

A pkg file is a tar archive (pax/ustar), compressed with xz (or zstd), whose first members
are ``+COMPACT_MANIFEST`` and ``+MANIFEST`` (UCL; JSON is valid UCL), followed by every file
as a member named by its absolute installed path (``/usr/local/bin/s2s-agent``).
pkg(8) 2.x refuses relative member names, members the manifest does not list, and manifests
without name/origin/version/comment/desc/maintainer/www/prefix (LAB-FACTS).

Manifest schema written here (``+MANIFEST``)::

    {"name": str, "origin": "category/port", "version": str, "comment": str, "desc": str,
     "maintainer": str, "www": str, "abi": "FreeBSD:14:*", "arch": "freebsd:14:*",
     "prefix": "/usr/local", "flatsize": int (sum of file sizes in bytes),
     "licenselogic": "single", "licenses": [str],
     "deps": {pkgname: {"origin": str, "version": str}},
     "categories": [str],
     "files": {"/abs/path": {"sum": "1$<sha256 hex>", "uname": "root", "gname": "wheel",
                             "perm": "0644"|"0755"}},
     "directories": {"/abs/dir": {"uname": "root", "gname": "wheel", "perm": "0755"}},
     "scripts": {"post-install": str, "pre-deinstall": str, ...}}

``+COMPACT_MANIFEST`` is the same object without ``files``, ``directories`` and ``scripts``.
The members follow ``pkg create`` (freebsd/pkg 2.8.4, libpkg/pkg_create.c
``pkg_create_from_dir``): the two manifests, every file, then every directory the package
owns (``/abs/dir/``, size 0). A ``directories`` entry without ``perm`` makes pkg(8) create the
directory with mode 0000, so every entry carries owner, group and mode, as ``pkg create``
writes them. Everything is deterministic: sorted members, fixed mtime, root/wheel, fixed modes.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import shutil
import subprocess
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

REQUIRED_KEYS = ("name", "origin", "version", "comment", "desc", "maintainer", "www", "prefix")
COMPACT_EXCLUDED = ("files", "directories", "scripts")
SCRIPT_KEYS = (
    "pre-install",
    "post-install",
    "install",
    "pre-deinstall",
    "post-deinstall",
    "deinstall",
    "pre-upgrade",
    "post-upgrade",
    "upgrade",
)


OWNER = ("root", "wheel")
DIR_MODE = 0o755


@dataclass(frozen=True)
class Entry:
    """One file of the package: absolute installed path, content and permission bits."""

    path: str
    data: bytes
    mode: int = 0o644

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or "//" in self.path or self.path.endswith("/"):
            raise ValueError(f"package member path must be absolute and clean: {self.path!r}")
        if ".." in self.path.split("/"):
            raise ValueError(f"package member path must not contain '..': {self.path!r}")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def build_manifest(
    meta: Mapping[str, object],
    entries: Iterable[Entry],
    directories: Iterable[str] = (),
    scripts: Mapping[str, str] | None = None,
) -> dict:
    """Return the full manifest: ``meta`` plus flatsize, files, directories and scripts."""
    missing = [k for k in REQUIRED_KEYS if not meta.get(k)]
    if missing:
        raise ValueError(f"manifest lacks required keys: {', '.join(missing)}")
    entries = sorted(entries, key=lambda e: e.path)
    manifest = dict(meta)
    manifest["flatsize"] = sum(len(e.data) for e in entries)
    manifest["files"] = {e.path: _attrs(e.mode, sum="1$" + e.sha256) for e in entries}
    dirs = sorted({d.rstrip("/") for d in directories})
    if dirs:
        manifest["directories"] = {d: _attrs(DIR_MODE) for d in dirs}
    if scripts:
        bad = sorted(set(scripts) - set(SCRIPT_KEYS))
        if bad:
            raise ValueError(f"unknown pkg script kinds: {', '.join(bad)}")
        manifest["scripts"] = {k: scripts[k] for k in sorted(scripts)}
    return manifest


def _attrs(mode: int, **extra: str) -> dict:
    return {**extra, "uname": OWNER[0], "gname": OWNER[1], "perm": f"{mode:04o}"}


def compact(manifest: Mapping[str, object]) -> dict:
    """``+COMPACT_MANIFEST``: the manifest without files, directories and scripts."""
    return {k: v for k, v in manifest.items() if k not in COMPACT_EXCLUDED}


def dump_json(obj: object) -> bytes:
    """Canonical JSON (valid UCL) for a manifest: stable key order, UTF-8, final newline."""
    return (json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _tarinfo(name: str, size: int, mode: int, mtime: int, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname, info.gname = OWNER
    info.type = kind
    return info


def tar_bytes(manifest: Mapping[str, object], entries: Iterable[Entry], mtime: int) -> bytes:
    """The uncompressed tar: +COMPACT_MANIFEST, +MANIFEST, the files sorted by path, then the
    manifest's directories (``/abs/dir/``), as ``pkg create`` orders them."""
    buf = io.BytesIO()
    members = [
        ("+COMPACT_MANIFEST", dump_json(compact(manifest)), 0o644),
        ("+MANIFEST", dump_json(manifest), 0o644),
    ]
    members += [(e.path, e.data, e.mode) for e in sorted(entries, key=lambda e: e.path)]
    dirs = sorted(manifest.get("directories") or {})  # type: ignore[arg-type]
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in members:
            info = _tarinfo(name, len(data), mode, mtime, tarfile.REGTYPE)
            tar.addfile(info, io.BytesIO(data))
        for d in dirs:
            tar.addfile(_tarinfo(d.rstrip("/") + "/", 0, DIR_MODE, mtime, tarfile.DIRTYPE))
    return buf.getvalue()


def compress(raw: bytes, method: str = "xz") -> bytes:
    """xz (stdlib lzma, deterministic) or zstd (the ``zstd`` command, deterministic)."""
    if method == "xz":
        return lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9)
    if method == "zstd":
        exe = shutil.which("zstd")
        if not exe:
            raise RuntimeError("zstd compression needs the zstd command (apt-get install zstd)")
        proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [exe, "-q", "-19", "-c", "--no-progress"], input=raw, capture_output=True, check=True
        )
        return proc.stdout
    raise ValueError(f"unknown compression {method!r} (xz|zstd)")


def write_pkg(
    path: str,
    manifest: Mapping[str, object],
    entries: Iterable[Entry],
    mtime: int,
    method: str = "xz",
) -> int:
    """Write the compressed archive to ``path``; return its size in bytes."""
    data = compress(tar_bytes(manifest, list(entries), mtime), method)
    with open(path, "wb") as fh:
        fh.write(data)
    return len(data)


def plist_lines(entries: Iterable[Entry], directories: Iterable[str], prefix: str) -> list[str]:
    """FreeBSD ``pkg-plist`` lines: files relative to ``prefix`` (absolute when outside it),
    then ``@dir`` for every directory the package owns; sorted."""
    pre = prefix.rstrip("/") + "/"

    def rel(p: str) -> str:
        return p[len(pre) :] if p.startswith(pre) else p

    files = sorted(rel(e.path) for e in entries)
    dirs = sorted("@dir " + rel(d.rstrip("/")) for d in directories)
    return files + dirs
