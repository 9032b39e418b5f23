"""The .pkg archive: layout pkg(8) accepts, manifest, checksums, plist, reproducibility, size."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from .conftest import PKG_DIR, PORT, ROOT, build_into, require_tool

REQUIRED = ("name", "origin", "version", "comment", "desc", "maintainer", "www", "prefix")


def test_first_members_are_the_manifests(members):
    assert [m.name for m in members[:2]] == ["+COMPACT_MANIFEST", "+MANIFEST"]


def test_file_members_are_absolute_sorted_regular_and_owned_by_root(members):
    files = members[2:]
    names = [m.name for m in files]
    assert names == sorted(names)
    assert all(n.startswith("/") and ".." not in n.split("/") for n in names)
    for m in files:
        assert m.isreg(), m.name
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "wheel"), m.name
        assert m.mode in (0o644, 0o755), (m.name, oct(m.mode))


def test_expected_files_are_shipped(members):
    names = {m.name for m in members}
    for path in (
        "/usr/local/bin/s2s-agent",
        "/usr/local/etc/rc.d/s2s_agent",
        "/usr/local/lib/s2s-agent/s2s_agent/__init__.py",
        "/usr/local/lib/s2s-agent/azure/mgmt/network/_client.py",
        "/usr/local/lib/s2s-agent/vici/session.py",
        "/usr/local/pkg/s2s-agent.xml",
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
    for compiled in ("yaml", "_yaml", "requests", "urllib3", "cryptography", "cffi", "certifi"):
        assert not [n for n in names if n.startswith(f"/usr/local/lib/s2s-agent/{compiled}/")]
    # licences of what we redistribute are kept
    assert any(re.search(r"/msal-[^/]+\.dist-info/LICENSE", n) for n in names)


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
    deps = manifest["deps"]
    assert set(deps) == {"python311", "py311-pyyaml", "py311-requests", "py311-cryptography"}
    assert deps["py311-requests"]["origin"] == "www/py-requests"
    assert deps["py311-pyyaml"]["origin"] == "devel/py-pyyaml"
    assert deps["py311-cryptography"]["origin"] == "security/py-cryptography"
    assert all(isinstance(d["version"], str) and d["version"] for d in deps.values())
    assert set(manifest["scripts"]) == {"post-install", "pre-deinstall", "post-deinstall"}
    assert "%%" not in json.dumps(manifest["scripts"])
    assert all(d.startswith("/usr/local/") and d.endswith("/") for d in manifest["directories"])


def test_compact_manifest_is_manifest_without_lists(built_pkg, manifest):
    with tarfile.open(built_pkg, "r:xz") as tar:
        compact = json.load(tar.extractfile("+COMPACT_MANIFEST"))
    expected = {k: v for k, v in manifest.items() if k not in ("files", "directories", "scripts")}
    assert compact == expected


def test_every_file_is_in_the_manifest_with_its_sha256_and_flatsize_adds_up(built_pkg, manifest):
    seen, total = {}, 0
    with tarfile.open(built_pkg, "r:xz") as tar:
        for m in tar.getmembers()[2:]:
            data = tar.extractfile(m).read()
            seen[m.name] = "1$" + hashlib.sha256(data).hexdigest()
            total += len(data)
    assert seen == manifest["files"]
    assert manifest["flatsize"] == total


def test_shipped_text_has_no_unsubstituted_placeholders(built_pkg):
    with tarfile.open(built_pkg, "r:xz") as tar:
        for m in tar.getmembers():
            if m.name.startswith("/usr/local/lib/"):
                continue
            assert not re.search(rb"%%[A-Z_]+%%", tar.extractfile(m).read()), m.name


def test_plist_matches_archive(builder, members, manifest):
    """pkg-plist must list exactly the archive's files (run pkg/build.py --update-plist)."""
    entries = [builder.pkgformat.Entry(m.name, b"") for m in members[2:]]
    lines = builder.pkgformat.plist_lines(entries, manifest.get("directories", {}), "/usr/local")
    plist = (PORT / "pkg-plist").read_text().splitlines()
    assert plist == lines, "pkg-plist is stale: run `.venv/bin/python pkg/build.py --update-plist`"


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
    assert out.stdout.splitlines() == [m.name for m in members]


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
    with pytest.raises(builder.BuildError, match="update-plist"):
        builder.check_plist(["bin/s2s-agent", "lib/s2s-agent/x.py"], update=False)
