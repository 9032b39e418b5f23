"""The built packages under FreeBSD's real pkg(8) (2.8.x), per ABI, in an alternate root.

Runs when ``S2S_PKG8`` names a pkg(8) binary (``../shared/tools/build-pkg8`` builds one on
Debian from freebsd/pkg's public source); skips with that reason otherwise. Needs root.

For FreeBSD:14:amd64 (pfSense CE 2.7.x / Plus 23.x) and FreeBSD:15:amd64 (CE 2.8.x / Plus
24.03+), with ``pkg -o ABI=... -o OSVERSION=... -r ROOT``:

* ``pkg add`` of the file ``make package`` builds, with a stub ``python311`` (made with
  ``pkg create -M``) beside it; ``check -s`` and ``check -d`` are clean; every directory the
  package owns is 0755 root:wheel on disk and in pkg's database; ``delete`` leaves nothing;
* the file built for the other FreeBSD major is refused;
* upgrade 0.1.0 -> 0.2.0 (one file dropped, one added) by ``pkg install`` of the file and by
  ``pkg upgrade`` from a local ``pkg repo``: the old pre-deinstall runs before the new
  post-install, the dropped file is removed (no orphan), checks stay clean;
* why the README does not say ``pkg add`` for upgrades: a newer version is a *forced*
  install (like ``-f``, which an older or equal version needs): the installed package's
  pre-deinstall does not run, and files only it had stay, even after ``pkg delete``.

The package scripts run chrooted into the alternate root (PKG_ROOTDIR). A stub ``chroot``
first on PATH records each call, in order, with PKG_UPGRADE and which marker files exist at
that moment; for the byte-compile call it writes a ``__pycache__`` as compileall would.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from .conftest import EPOCH, load_builder
from .isolated import ADDED, DROPPED, PYCACHE, write_chroot_stub

PKG8 = os.environ.get("S2S_PKG8", "")
pytestmark = [
    pytest.mark.skipif(
        not PKG8,
        reason="S2S_PKG8 is not set: point it at a FreeBSD pkg(8) binary "
        "(../shared/tools/build-pkg8 builds one) to check the packages with the real tool",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="pkg(8) installs into a root as root"),
]

NAME = "pfSense-pkg-s2s-agent"
TARGETS = {
    "FreeBSD:14:*": ("FreeBSD:14:amd64", "1400094"),
    "FreeBSD:15:*": ("FreeBSD:15:amd64", "1500000"),
}
NEW = "0.2.0"


COMPILE = "/usr/local/bin/python3.11 -I -m compileall -q -j 0 /usr/local/lib/s2s-agent"
PHP = f"/usr/local/bin/php -f /etc/rc.packages {NAME} "


def stub_manifest(abi: str) -> dict:
    return {
        "name": "python311",
        "origin": "lang/python311",
        "version": "3.11.9",
        "comment": "stub of the interpreter",
        "desc": "stub",
        "maintainer": "test@example.org",
        "www": "https://www.python.org/",
        "prefix": "/usr/local",
        "abi": abi,
        "files": {"/usr/local/bin/python3.11": ""},
    }


class Box:
    """One alternate root for one ABI, with pfSense's rc.packages and php present."""

    def __init__(self, tmp: Path, abi: str):
        self.abi, (self.target, self.osversion) = abi, TARGETS[abi]
        self.root = tmp / "root"
        self.log = tmp / "scripts.log"
        stubs = tmp / "stubbin"
        for d in (self.root / "etc", self.root / "usr/local/bin", stubs):
            d.mkdir(parents=True, exist_ok=True)
        (self.root / "etc/rc.packages").write_text("<?php // stand-in\n")
        php = self.root / "usr/local/bin/php"
        php.write_text("#!/bin/sh\nexit 0\n")
        php.chmod(0o755)
        write_chroot_stub(stubs)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PKG_")},
            "PATH": f"{stubs}:{os.environ['PATH']}",
            "S2S_PKG8_LOG": str(self.log),
            "ASSUME_ALWAYS_YES": "yes",
        }

    def pkg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = [
            PKG8,
            "-o",
            f"ABI={self.target}",
            "-o",
            f"OSVERSION={self.osversion}",
            "-r",
            str(self.root),
            *args,
        ]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=self.env)
        if check:
            assert r.returncode == 0, f"{' '.join(argv)}\n{r.stdout}{r.stderr}"
        return r

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        out = [json.loads(line) for line in self.log.read_text().splitlines()]
        self.log.unlink()
        return out

    def version(self) -> str:
        return self.pkg("query", "%v", NAME).stdout.strip()

    def db_manifest(self) -> dict:
        r = self.pkg("info", "-R", "--raw-format", "json", NAME)
        (doc,) = json.loads(r.stdout)
        return doc

    def exists(self, path: str) -> bool:
        return os.path.lexists(self.root / path.lstrip("/"))

    def checks_clean(self) -> None:
        for flag in ("-s", "-d"):
            r = self.pkg("check", flag, "-a")
            assert "mismatch" not in r.stdout + r.stderr, r.stdout + r.stderr
            assert "missing" not in (r.stdout + r.stderr).lower(), r.stdout + r.stderr


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Per ABI: the 0.1.0 file `make package` builds, a 0.2.0 variant (one file dropped, one
    added) and a python311 stub made by pkg(8) itself. Keys: (abi, "old"|"new"|"stub")."""
    b = load_builder()
    out = tmp_path_factory.mktemp("pkgs")
    mp = pytest.MonkeyPatch()
    mp.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    try:
        built = b.build(b.parse_args(["--out", str(out / "old"), "--skip-plist-check"]))
    finally:
        mp.undo()
    site = Path(b.parse_args([]).site)
    entries = [e for e in b.collect(site) if e.path != DROPPED]
    entries.append(b.pkgformat.Entry(ADDED, b"new in 0.2.0\n"))
    result: dict = {}
    for abi in TARGETS:
        meta = {**b.manifest_meta(abi), "version": NEW}
        manifest = b.pkgformat.build_manifest(
            meta, entries, b.owned_dirs(entries), b.scripts(meta["name"])
        )
        new = out / "new" / b.package_filename(NAME, NEW, abi)
        new.parent.mkdir(exist_ok=True)
        b.pkgformat.write_pkg(str(new), manifest, entries, EPOCH, "xz")
        stub_dir = out / f"stub-{abi[8:10]}"
        (stub_dir / "root/usr/local/bin").mkdir(parents=True)
        (stub_dir / "root/usr/local/bin/python3.11").write_text("#!/bin/sh\n")
        (stub_dir / "root/usr/local/bin/python3.11").chmod(0o755)
        (stub_dir / "m.json").write_text(json.dumps(stub_manifest(abi)))
        subprocess.run(
            [
                PKG8,
                "create",
                "-M",
                str(stub_dir / "m.json"),
                "-r",
                str(stub_dir / "root"),
                "-o",
                str(stub_dir),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        (old,) = [p for p in built if p.name == b.package_filename(NAME, "0.1.0", abi)]
        result[abi, "old"], result[abi, "new"] = old, new
        result[abi, "stub"] = stub_dir / "python311-3.11.9.pkg"
    return result


def with_stub(packages: dict, abi: str, kind: str, where: Path) -> Path:
    """Copy the package and the python311 stub into ``where`` (pkg add finds the dependency
    only as NAME-*.pkg beside the file)."""
    where.mkdir(parents=True, exist_ok=True)
    for key in (kind, "stub"):
        src = packages[abi, key]
        (where / src.name).write_bytes(src.read_bytes())
    return where / packages[abi, kind].name


def test_version_under_test_is_0_1_0():
    """The upgrade tests start from the version `make package` builds today."""
    assert load_builder().agent_version() == "0.1.0"


@pytest.mark.parametrize("abi", sorted(TARGETS))
def test_install_check_modes_delete(packages, tmp_path, abi):
    box = Box(tmp_path, abi)
    f = with_stub(packages, abi, "old", tmp_path / "dl")
    box.pkg("add", str(f))
    assert box.version() == "0.1.0"
    box.checks_clean()
    db = box.db_manifest()
    assert db["abi"] == abi and set(db["deps"]) == {"python311"}
    assert db["directories"], "the package owns no directory"
    for d, attrs in db["directories"].items():
        assert attrs == {"uname": "root", "gname": "wheel", "perm": "0755"}, (d, attrs)
        st = (box.root / d.lstrip("/")).stat()
        assert (oct(st.st_mode & 0o7777), st.st_uid, st.st_gid) == ("0o755", 0, 0), d
    for path, attrs in db["files"].items():
        assert oct((box.root / path.lstrip("/")).stat().st_mode & 0o7777) == "0o" + attrs[
            "perm"
        ].lstrip("0"), path
    assert [(c["argv"], c["rootdir"]) for c in box.calls()] == [
        (COMPILE, str(box.root)),
        (PHP + "POST-INSTALL", str(box.root)),
    ]
    assert box.exists(PYCACHE)

    box.pkg("delete", "-y", NAME)
    calls = box.calls()
    assert [c["argv"] for c in calls] == [PHP + "DEINSTALL", PHP + "POST-DEINSTALL"]
    assert [c["launcher"] for c in calls] == [1, 0]  # before / after the files go
    left = [p for p in (*db["files"], *db["directories"], PYCACHE) if box.exists(p)]
    assert left == [], left
    assert box.pkg("info", NAME, check=False).returncode != 0


@pytest.mark.parametrize("abi", sorted(TARGETS))
def test_other_freebsd_major_is_refused(packages, tmp_path, abi):
    other = next(a for a in TARGETS if a != abi)
    box = Box(tmp_path, abi)
    f = with_stub(packages, other, "old", tmp_path / "dl")
    r = box.pkg("add", str(f), check=False)
    assert r.returncode != 0
    assert "wrong architecture" in r.stdout + r.stderr, r.stdout + r.stderr


def assert_upgraded(box: Box, calls: list[dict]) -> None:
    assert box.version() == NEW
    assert not box.exists(DROPPED), "the file 0.2.0 dropped is left behind (orphan)"
    assert box.exists(ADDED)
    box.checks_clean()
    argv = [c["argv"] for c in calls]
    # the old package's pre-deinstall (its files still there), then the new post-install
    assert argv == [PHP + "DEINSTALL", COMPILE, PHP + "POST-INSTALL"], argv
    assert (calls[0]["dropped"], calls[0]["added"]) == (1, 0)
    assert (calls[-1]["dropped"], calls[-1]["added"]) == (0, 1)
    assert {c["upgrade"] for c in calls} == {"true"}
    db = box.db_manifest()
    box.pkg("delete", "-y", NAME)
    left = [p for p in (*db["files"], *db["directories"], PYCACHE, DROPPED) if box.exists(p)]
    assert left == [], left


def install_old_then_stage(
    box: Box, packages: dict, abi: str, tmp: Path, first: str, second: str
) -> Path:
    """Install ``first`` (with the stub beside it); copy ``second`` alone into tmp/next."""
    box.pkg("add", str(with_stub(packages, abi, first, tmp / "first")))
    box.calls()
    f = tmp / "next" / packages[abi, second].name
    f.parent.mkdir()
    f.write_bytes(packages[abi, second].read_bytes())
    return f


@pytest.mark.parametrize("abi", sorted(TARGETS))
def test_upgrade_by_pkg_install_of_the_file(packages, tmp_path, abi):
    """README's upgrade: ``pkg install -U -y /abs/new.pkg`` is a real upgrade."""
    box = Box(tmp_path, abi)
    new = install_old_then_stage(box, packages, abi, tmp_path, "old", "new")
    box.pkg("install", "-U", "-y", str(new))
    assert_upgraded(box, box.calls())


@pytest.mark.parametrize("abi", sorted(TARGETS))
def test_upgrade_by_pkg_upgrade_from_a_local_repo(packages, tmp_path, abi):
    box = Box(tmp_path, abi)
    box.pkg("add", str(with_stub(packages, abi, "old", tmp_path / "v1")))
    box.calls()
    repo = tmp_path / "repo"
    with_stub(packages, abi, "new", repo)
    box.pkg("repo", str(repo))
    repos = tmp_path / "repos"
    repos.mkdir()
    (repos / "local.conf").write_text(
        f'local: {{ url: "file://{repo}", signature_type: "none", enabled: yes }}\n'
    )
    box.env["REPOS_DIR"] = str(repos)
    box.pkg("update", "-f")
    box.pkg("upgrade", "-y")
    assert_upgraded(box, box.calls())


def assert_forced(box: Box, version: str, leftover: str) -> None:
    """A forced install over the installed version: no pre-deinstall of the installed one,
    its files the new one lacks stay (orphans) and survive ``pkg delete``."""
    assert box.version() == version
    argv = [c["argv"] for c in box.calls()]
    assert argv == [COMPILE, PHP + "POST-INSTALL"], argv
    assert box.exists(leftover)
    assert (
        box.pkg("which", leftover, check=False).stdout.strip().endswith("not found in the database")
    )
    box.pkg("delete", "-y", NAME)
    assert box.exists(leftover)


@pytest.mark.parametrize("abi", sorted(TARGETS))
def test_pkg_add_of_a_newer_version_is_a_forced_install(packages, tmp_path, abi):
    """Why the README does not say ``pkg add`` for upgrades: pkg(8) 2.8 installs a newer
    version over the old one as a *forced* install ("already installed, forced install")."""
    box = Box(tmp_path, abi)
    new = install_old_then_stage(box, packages, abi, tmp_path, "old", "new")
    r = box.pkg("add", str(new))
    assert "forced install" in r.stdout + r.stderr
    assert_forced(box, NEW, DROPPED)


@pytest.mark.parametrize("abi", sorted(TARGETS))
def test_pkg_add_of_an_older_version_needs_f_and_is_forced(packages, tmp_path, abi):
    box = Box(tmp_path, abi)
    old = install_old_then_stage(box, packages, abi, tmp_path, "new", "old")
    r = box.pkg("add", str(old))  # refused: exit 0, nothing changes
    assert "is already installed" in r.stdout + r.stderr and box.version() == NEW
    box.pkg("add", "-f", str(old))
    assert_forced(box, "0.1.0", ADDED)
