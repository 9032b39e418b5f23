"""The .pkg archive: layout pkg(8) accepts, manifest, checksums, plist, reproducibility, size."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from .conftest import EPOCH, PKG_DIR, PORT, ROOT, build_into, require_tool
from .isolated import PYCACHE, clean_env, write_chroot_stub

REQUIRED = ("name", "origin", "version", "comment", "desc", "maintainer", "www", "prefix")


def test_first_members_are_the_manifests(members):
    assert [m.name for m in members[:2]] == ["+COMPACT_MANIFEST", "+MANIFEST"]


def test_file_members_are_absolute_sorted_regular_and_owned_by_root(members, manifest):
    files = members[2 : 2 + len(manifest["files"])]
    names = [m.name for m in files]
    assert names == sorted(names)
    assert all(n.startswith("/") and ".." not in n.split("/") for n in names)
    for m in files:
        assert m.isreg(), m.name
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "wheel"), m.name
        assert m.mode in (0o644, 0o755), (m.name, oct(m.mode))


def test_directories_carry_owner_and_mode_and_follow_the_files(members, manifest):
    """As `pkg create` writes them (freebsd/pkg 2.8.4 pkg_create.c): a manifest entry with
    uname/gname/perm per directory (without perm pkg(8) creates it 0000), and after the
    files one directory member per entry, named with a trailing slash."""
    dirs = manifest["directories"]
    assert dirs and all(not d.endswith("/") for d in dirs)
    for d, attrs in dirs.items():
        assert attrs == {"uname": "root", "gname": "wheel", "perm": "0755"}, d
    tail = members[2 + len(manifest["files"]) :]
    assert [m.name for m in tail] == sorted(dirs)  # tarfile drops the "/" bsdtar shows
    for m in tail:
        assert m.isdir() and m.size == 0, m.name
        assert (m.mode, m.uid, m.gid, m.uname, m.gname) == (0o755, 0, 0, "root", "wheel")
    # every directory holding a shipped file below an owned directory is itself owned
    for f in manifest["files"]:
        if f.startswith("/usr/local/lib/s2s-agent/"):
            assert f.rsplit("/", 1)[0] in dirs, f


def test_files_carry_owner_and_mode_in_the_manifest(manifest, members):
    mode = {m.name: m.mode for m in members}
    for path, attrs in manifest["files"].items():
        assert attrs["sum"] == attrs["sum"].lower() and attrs["sum"].startswith("1$"), path
        assert (attrs["uname"], attrs["gname"]) == ("root", "wheel"), path
        assert attrs["perm"] == f"{mode[path]:04o}", path


def test_expected_files_are_shipped(members):
    names = {m.name for m in members}
    for path in (
        "/usr/local/bin/s2s-agent",
        "/usr/local/etc/rc.d/s2s_agent",
        "/usr/local/lib/s2s-agent/s2s_agent/__init__.py",
        "/usr/local/lib/s2s-agent/azure/mgmt/network/_client.py",
        "/usr/local/lib/s2s-agent/vici/session.py",
        "/usr/local/pkg/s2s_agent.xml",
        "/usr/local/pkg/s2s_agent_profiles.xml",
        "/usr/local/pkg/s2s-agent.xml",  # stays for registrations by earlier builds
        "/usr/local/pkg/s2s-agent-registration.inc",
        "/usr/local/pkg/s2s-agent.inc",
        "/usr/local/share/pfSense-pkg-s2s-agent/info.xml",
        "/usr/local/libexec/s2s-agent/apply-myid.php",
        "/usr/local/www/status_s2s_agent.php",
    ):
        assert path in names, path
    if (ROOT / "etc" / "s2s-agent.yaml.sample").exists():
        assert "/usr/local/etc/s2s-agent.yaml.sample" in names
    mode = {m.name: m.mode for m in members}
    assert mode["/usr/local/bin/s2s-agent"] == 0o755
    assert mode["/usr/local/etc/rc.d/s2s_agent"] == 0o755


def test_pruned_and_compiled_things_are_absent(members):
    names = [m.name for m in members]
    assert not [n for n in names if "/__pycache__/" in n or n.endswith((".pyc", ".pyi"))]
    assert not [n for n in names if "/azure/mgmt/network/aio/" in n]
    assert not [n for n in names if n.endswith(".so") or ".so." in n], "compiled code shipped"
    for compiled in ("_yaml", "cryptography", "cffi", "_cffi_backend", "pycparser"):
        assert not [n for n in names if n.startswith(f"/usr/local/lib/s2s-agent/{compiled}")]
    # licences of what we redistribute are kept
    assert any(re.search(r"/msal-[^/]+\.dist-info/LICENSE", n) for n in names)


def test_pure_python_libraries_are_bundled(members):
    """pfSense's repository has no py311-requests/-yaml to depend on: they ship inside."""
    names = {m.name for m in members}
    lib = "/usr/local/lib/s2s-agent/"
    for path in (
        "requests/__init__.py",
        "urllib3/__init__.py",
        "idna/__init__.py",
        "certifi/cacert.pem",
        "charset_normalizer/md.py",
        "charset_normalizer/cd.py",
        "yaml/__init__.py",
        "yaml/scanner.py",
        "msal/application.py",
        "jwt/__init__.py",
        "isodate/__init__.py",
        "typing_extensions.py",
        "s2s_agent/act/credential.py",
    ):
        assert lib + path in names, path


def test_manifest_fields(manifest, builder):
    for key in REQUIRED:
        assert isinstance(manifest[key], str) and manifest[key], key
    assert manifest["name"] == "pfSense-pkg-s2s-agent"
    assert manifest["origin"] == "sysutils/pfSense-pkg-s2s-agent"
    assert manifest["version"] == builder.agent_version()
    assert manifest["abi"] == "FreeBSD:14:*"
    assert manifest["arch"] == "freebsd:14:*"
    assert manifest["prefix"] == "/usr/local"
    assert isinstance(manifest["flatsize"], int)
    # the interpreter only (every pfSense has it: unbound needs it); no pip version: pkg(8)
    # records the installed python311's version
    assert manifest["deps"] == {"python311": {"origin": "lang/python311"}}
    assert set(manifest["scripts"]) == {"post-install", "pre-deinstall", "post-deinstall"}
    assert "%%" not in json.dumps(manifest["scripts"])
    assert all(d.startswith("/usr/local/") for d in manifest["directories"])


def test_compact_manifest_is_manifest_without_lists(built_pkg, manifest):
    with tarfile.open(built_pkg, "r:xz") as tar:
        compact = json.load(tar.extractfile("+COMPACT_MANIFEST"))
    expected = {k: v for k, v in manifest.items() if k not in ("files", "directories", "scripts")}
    assert compact == expected


def test_every_file_is_in_the_manifest_with_its_sha256_and_flatsize_adds_up(built_pkg, manifest):
    seen, total = {}, 0
    with tarfile.open(built_pkg, "r:xz") as tar:
        for m in tar.getmembers()[2:]:
            if m.isdir():
                continue
            data = tar.extractfile(m).read()
            seen[m.name] = "1$" + hashlib.sha256(data).hexdigest()
            total += len(data)
    assert seen == {path: attrs["sum"] for path, attrs in manifest["files"].items()}
    assert manifest["flatsize"] == total


def test_shipped_text_has_no_unsubstituted_placeholders(built_pkg):
    with tarfile.open(built_pkg, "r:xz") as tar:
        for m in tar.getmembers():
            if m.name.startswith("/usr/local/lib/") or not m.isreg():
                continue
            assert not re.search(rb"%%[A-Z_]+%%", tar.extractfile(m).read()), m.name


def test_plist_matches_archive(builder, members, manifest):
    """pkg-plist must list exactly the archive's files (`make package` rewrites it)."""
    entries = [builder.pkgformat.Entry(m.name, b"") for m in members[2:] if m.isreg()]
    lines = builder.pkgformat.plist_lines(entries, manifest.get("directories", {}), "/usr/local")
    plist = (PORT / "pkg-plist").read_text().splitlines()
    assert plist == lines, "pkg-plist is stale: run `make package` and commit pkg-plist"


def test_two_builds_are_byte_identical(built_pkg, tmp_path, monkeypatch):
    again = build_into(tmp_path, monkeypatch)
    assert again.read_bytes() == built_pkg.read_bytes()


def test_size_budget(built_pkg):
    size = built_pkg.stat().st_size
    print(f"{built_pkg.name}: {size} bytes")
    assert size <= 6 * 1024 * 1024


def test_abi_is_overridable(tmp_path, monkeypatch):
    out = build_into(tmp_path, monkeypatch, "--abi", "FreeBSD:15:*")
    with tarfile.open(out, "r:xz") as tar:
        m = json.load(tar.extractfile("+MANIFEST"))
    assert (m["abi"], m["arch"]) == ("FreeBSD:15:*", "freebsd:15:*")


def test_make_package_builds_one_file_per_release_family(tmp_path, monkeypatch, builder):
    """pkg(8) refuses a package built for another FreeBSD major: FreeBSD 14 for pfSense CE
    2.7.x / Plus 23.x, FreeBSD 15 for CE 2.8.x / Plus 24.03+; the name says which."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    monkeypatch.delenv("PKG_ABI", raising=False)
    built = builder.build(builder.parse_args(["--out", str(tmp_path), "--skip-plist-check"]))
    v = builder.agent_version()
    assert [p.name for p in built] == [
        f"pfSense-pkg-s2s-agent-{v}-pfSense-2.7.pkg",
        f"pfSense-pkg-s2s-agent-{v}-pfSense-2.8.pkg",
    ]
    abis = []
    for p in built:
        with tarfile.open(p, "r:xz") as tar:
            abis.append(json.load(tar.extractfile("+MANIFEST"))["abi"])
    assert abis == ["FreeBSD:14:*", "FreeBSD:15:*"]


def test_bad_abi_is_refused(tmp_path, monkeypatch, builder):
    with pytest.raises(builder.BuildError, match="FreeBSD:<major>"):
        build_into(tmp_path, monkeypatch, "--abi", "Linux:6:*")


def test_port_version_matches_agent(builder):
    assert builder.port_vars()["PORTVERSION"] == builder.agent_version()


def test_bsdtar_lists_the_same_members(built_pkg, members):
    bsdtar = require_tool("bsdtar")
    out = subprocess.run(
        [bsdtar, "-tf", str(built_pkg)], capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines() == [m.name + "/" * m.isdir() for m in members]


def test_every_prune_rule_is_documented(builder):
    doc = (PKG_DIR / "PRUNING.md").read_text()
    for pattern, _reason in builder.vendor.PRUNE_RULES:
        name = pattern.rsplit("/", 1)[-1] if pattern.startswith("*.dist-info/") else pattern
        assert f"`{pattern}`" in doc or f"`{name}`" in doc or name in doc, pattern


def test_entry_rejects_relative_and_dotdot_paths(builder):
    with pytest.raises(ValueError):
        builder.pkgformat.Entry("usr/local/bin/x", b"")
    with pytest.raises(ValueError):
        builder.pkgformat.Entry("/usr/local/../etc/passwd", b"")


def test_manifest_requires_pkg_mandatory_keys(builder):
    with pytest.raises(ValueError, match="www"):
        builder.pkgformat.build_manifest(
            {k: "x" for k in REQUIRED if k != "www"}, [builder.pkgformat.Entry("/a", b"1")]
        )


def test_stale_plist_stops_the_build(tmp_path, monkeypatch, builder):
    plist = tmp_path / "pkg-plist"
    plist.write_text("bin/s2s-agent\n")
    monkeypatch.setattr(builder, "PORT", Path(tmp_path))
    with pytest.raises(builder.BuildError, match="without --check-plist"):
        builder.check_plist(["bin/s2s-agent", "lib/s2s-agent/x.py"], update=False)


def run_script(manifest: dict, kind: str, root: Path, tmp: Path) -> list[dict]:
    """Run one of the manifest's scripts as pkg(8) does (``sh -c``) for ``pkg -r root``."""
    log = tmp / "calls.log"
    log.unlink(missing_ok=True)
    env = {
        **clean_env(),
        "PKG_ROOTDIR": str(root),
        "S2S_PKG8_LOG": str(log),
        "PATH": f"{tmp / 'stubbin'}:{os.environ['PATH']}",
    }
    r = subprocess.run(
        ["sh", "-c", manifest["scripts"][kind]], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def test_scripts_act_inside_pkg_rootdir_never_on_the_host(manifest, tmp_path):
    """`pkg -r ROOT` sets PKG_ROOTDIR=ROOT: the scripts chroot into it for php/python and
    look for rc.packages, php and python there (a stub chroot records the calls)."""
    write_chroot_stub(tmp_path / "stubbin")
    root = tmp_path / "root"
    (root / "usr/local/lib/s2s-agent/s2s_agent").mkdir(parents=True)
    assert run_script(manifest, "post-install", root, tmp_path) == []  # nothing to run there
    assert run_script(manifest, "pre-deinstall", root, tmp_path) == []
    (root / "usr/local/bin").mkdir()
    for tool in ("usr/local/bin/php", "usr/local/bin/python3.11"):
        (root / tool).write_text("#!/bin/sh\n")
        (root / tool).chmod(0o755)
    (root / "etc").mkdir()
    (root / "etc/rc.packages").write_text("")
    php = "/usr/local/bin/php -f /etc/rc.packages pfSense-pkg-s2s-agent "
    calls = run_script(manifest, "post-install", root, tmp_path)
    assert [(c["argv"], c["rootdir"]) for c in calls] == [
        ("/usr/local/bin/python3.11 -I -m compileall -q -j 0 /usr/local/lib/s2s-agent", str(root)),
        (php + "POST-INSTALL", str(root)),
    ]
    assert (root / PYCACHE.lstrip("/")).is_dir()
    calls = run_script(manifest, "pre-deinstall", root, tmp_path)
    assert [c["argv"] for c in calls] == [php + "DEINSTALL"]
    assert not (root / PYCACHE.lstrip("/")).exists(), "pre-deinstall left the bytecode"
    calls = run_script(manifest, "post-deinstall", root, tmp_path)
    assert [c["argv"] for c in calls] == [php + "POST-DEINSTALL"]
