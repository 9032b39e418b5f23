"""write_atomic / read_json with real files, a really full disk and a read-only mount."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess

import pytest

from s2s_agent.core import atomic
from s2s_agent.core.atomic import read_json, write_atomic
from s2s_agent.core.errors import StateError


def leftovers(directory) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.startswith("."))


def test_write_creates_and_replaces(tmp_path):
    p = tmp_path / "state.json"
    write_atomic(p, '{"a": 1}')
    assert p.read_text() == '{"a": 1}'
    ino = p.stat().st_ino
    write_atomic(p, b'{"a": 2}')
    assert p.read_bytes() == b'{"a": 2}'
    assert p.stat().st_ino != ino  # a new file was renamed over, not rewritten in place
    assert leftovers(tmp_path) == []


def test_mode_is_applied_regardless_of_umask(tmp_path):
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "m.prom", "x 1\n", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.prom").stat().st_mode) == 0o644
    write_atomic(tmp_path / "s.json", "{}")
    assert stat.S_IMODE((tmp_path / "s.json").stat().st_mode) == 0o600


def test_backup_keeps_previous_version(tmp_path):
    p = tmp_path / "state.json"
    write_atomic(p, "v1", backup=True)
    assert not (tmp_path / "state.json.bak").exists()
    write_atomic(p, "v2", backup=True)
    write_atomic(p, "v3", backup=True)
    assert p.read_text() == "v3"
    assert (tmp_path / "state.json.bak").read_text() == "v2"
    assert leftovers(tmp_path) == []


def test_backup_falls_back_to_copy_when_links_are_refused(tmp_path, monkeypatch):
    p = tmp_path / "state.json"
    write_atomic(p, "old")

    def no_links(src, dst, **kw):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic.os, "link", no_links)
    write_atomic(p, "new", backup=True)
    assert (tmp_path / "state.json.bak").read_text() == "old"
    assert p.read_text() == "new"
    assert leftovers(tmp_path) == []


def test_failed_rename_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "state.json"
    p.write_text("precious")

    def boom(src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(StateError, match=r"cannot replace .*state.json: Input/output error"):
        write_atomic(p, "new")
    assert p.read_text() == "precious"
    assert leftovers(tmp_path) == []


def test_missing_directory_is_a_state_error(tmp_path):
    with pytest.raises(StateError, match="No such file or directory"):
        write_atomic(tmp_path / "nope" / "state.json", "{}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only-mode directories")
def test_permission_denied(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    (d / "state.json").write_text("old")
    d.chmod(0o500)
    try:
        with pytest.raises(StateError, match="Permission denied"):
            write_atomic(d / "state.json", "new")
        assert (d / "state.json").read_text() == "old"
    finally:
        d.chmod(0o700)


# ---- real file systems ----------------------------------------------------------------
def _mount_tmpfs(target, options: str):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if shutil.which("mount") is None:
        pytest.skip("no mount(8)")
    target.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")


@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "tiny"
    _mount_tmpfs(mnt, "size=64k")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=10)


def test_full_disk_keeps_old_file(tiny_fs):
    p = tiny_fs / "state.json"
    write_atomic(p, json.dumps({"version": 1, "ok": True}))
    filler = tiny_fs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    with pytest.raises(StateError) as ei:
        write_atomic(p, json.dumps({"version": 1, "big": "x" * 200_000}), backup=True)
    msg = str(ei.value)
    assert str(p) in msg and "No space left on device" in msg
    assert read_json(p)[0] == {"version": 1, "ok": True}
    assert not (tiny_fs / "state.json.bak").exists()
    assert leftovers(tiny_fs) == []
    filler.unlink()
    write_atomic(p, "{}")  # space is back: works again
    assert read_json(p)[0] == {}


def test_read_only_file_system(tmp_path):
    mnt = tmp_path / "ro"
    _mount_tmpfs(mnt, "size=64k")
    try:
        (mnt / "state.json").write_text('{"old": 1}')
        r = subprocess.run(
            ["mount", "-o", "remount,ro", str(mnt)], capture_output=True, text=True, timeout=10
        )
        if r.returncode != 0:
            pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
        with pytest.raises(StateError, match="Read-only file system"):
            write_atomic(mnt / "state.json", '{"new": 1}')
        assert read_json(mnt / "state.json")[0] == {"old": 1}
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=10)


# ---- read_json ----------------------------------------------------------------------------
def test_read_json_returns_data_and_mtime(tmp_path):
    p = tmp_path / "s.json"
    write_atomic(p, '{"saved": 12.5, "tunnels": []}')
    os.utime(p, (1000, 2000))
    data, mtime = read_json(p)
    assert data == {"saved": 12.5, "tunnels": []}
    assert mtime == 2000


def test_read_json_missing_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "none.json")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b'{"a": 1', "not valid JSON (line 1"), (b"\xff\xfe{}", "not UTF-8"), (b"", "not valid JSON")],
)
def test_read_json_bad_content_is_state_error(tmp_path, content, fragment):
    p = tmp_path / "s.json"
    p.write_bytes(content)
    with pytest.raises(StateError) as ei:
        read_json(p)
    assert fragment in str(ei.value) and str(p) in str(ei.value)


def test_read_json_directory_is_state_error(tmp_path):
    with pytest.raises(StateError, match="cannot read"):
        read_json(tmp_path)


def test_read_json_oversized(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "MAX_JSON_BYTES", 10)
    p = tmp_path / "s.json"
    p.write_text('{"a": "0123456789"}')
    with pytest.raises(StateError, match="more than a state file can be"):
        read_json(p)


# ---- special files where a regular file is expected --------------------------------------


def _with_deadline(fn, seconds=5.0):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it blocks."""
    import threading

    box: dict = {}

    def work():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    th = threading.Thread(target=work, daemon=True)
    th.start()
    th.join(seconds)
    assert not th.is_alive(), f"{fn} blocked for more than {seconds}s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_read_json_of_a_fifo_fails_at_once(tmp_path):
    p = tmp_path / "state.json"
    os.mkfifo(p)
    with pytest.raises(StateError, match="FIFO"):
        _with_deadline(lambda: read_json(p))


@pytest.mark.parametrize("kind", ["fifo", "dir", "socket", "device"])
def test_open_regular_refuses_special_files(tmp_path, kind):
    import socket as socketmod

    p = tmp_path / "x"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "dir":
        p.mkdir()
    elif kind == "socket":
        s = socketmod.socket(socketmod.AF_UNIX)
        s.bind(str(p))
        s.close()
    else:
        p = "/dev/null"
    with pytest.raises(OSError) as ei:  # a socket cannot even be opened (ENXIO)
        _with_deadline(lambda: atomic.read_regular(p, 100))
    if kind != "socket":
        assert isinstance(ei.value, atomic.NotRegularFileError)
        assert "not a regular file" in ei.value.strerror


def test_read_regular_limits_and_nofollow(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"x" * 10)
    assert atomic.read_regular(p, 10) == b"x" * 10
    with pytest.raises(OSError, match="more than the 9 allowed"):
        atomic.read_regular(p, 9)
    link = tmp_path / "link"
    link.symlink_to(p)
    assert atomic.read_regular(link, 10) == b"x" * 10
    with pytest.raises(OSError) as ei:
        atomic.read_regular(link, 10, nofollow=True)
    assert ei.value.errno == errno.ELOOP
