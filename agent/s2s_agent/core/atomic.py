"""Crash-safe file writes (state.json, the metrics textfile) and the matching JSON reader.

:func:`write_atomic` writes a temporary file in the target's directory, fsyncs it, renames
it over the target and fsyncs the directory: a reader (or a reboot) sees the old content or
the new one, never a mix. On any OS error the old file is untouched, the temporary file is
removed and :class:`~s2s_agent.core.errors.StateError` names the path and the OS reason
(``No space left on device``, ``Read-only file system`` ...); the caller decides.

A symlink at ``path`` is replaced by a regular file (the link is not followed).

:func:`open_regular` / :func:`read_regular` are the one way to read a file the admin (or
an attacker) controls (state.json, the config, the credential file, swanctl.conf): the
open never blocks (``O_NONBLOCK``: a FIFO would otherwise wait for a writer forever) and
anything but a regular file is refused with :class:`NotRegularFileError` (an OSError, so
callers map it like any other read error: ``exc.strerror`` says what the path is).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import tempfile
from typing import Any

from .errors import StateError

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 64 * 1024 * 1024


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise  # some file systems cannot fsync a directory: nothing more to do there
    finally:
        os.close(fd)


def _temp_in(directory: str, name: str, suffix: str) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=directory)


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes | str,
    *,
    mode: int = 0o600,
    backup: bool = False,
    owner: tuple[int, int] | None = None,
) -> None:
    """Replace ``path`` with ``data`` atomically (``str`` is written as UTF-8).

    ``mode``: permissions of the new file (umask does not apply). ``owner``: (uid, gid) to
    give it, set on the descriptor before the rename so the file is never visible with
    another owner (not root, e.g. in tests: it keeps ours). ``backup=True`` keeps the
    previous version as ``<name>.bak`` (replaced atomically too; a hard link, so no copy).
    Raises StateError; on error ``path`` is unchanged (``.bak`` may already hold the
    version that is still at ``path``).
    """
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    tmp: str | None = None
    bak_tmp: str | None = None
    step = "create a temporary file next to"
    try:
        fd, tmp = _temp_in(directory, name, ".tmp")
        try:
            step = "write"
            if owner is not None:
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, *owner)
            os.fchmod(fd, mode)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if backup and os.path.lexists(path):
            step = "keep a backup of"
            bak_tmp = _make_backup_link(path, directory, name)
            os.replace(bak_tmp, path + ".bak")
            bak_tmp = None
        step = "replace"
        os.replace(tmp, path)
        tmp = None
        step = "sync the directory of"
        _fsync_dir(directory)
    except OSError as exc:
        raise StateError(
            f"cannot {step} {path}: {_reason(exc)}; the previous version is unchanged"
        ) from None
    finally:
        for leftover in (tmp, bak_tmp):
            if leftover is not None:
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
    log.debug("wrote %s (%d bytes)", path, len(payload))


def _make_backup_link(path: str, directory: str, name: str) -> str:
    """A new name for the current ``path`` (hard link; a copy where links are refused)."""
    fd, bak_tmp = _temp_in(directory, name, ".bak.tmp")
    os.close(fd)
    os.unlink(bak_tmp)  # mkstemp only reserved a unique name
    try:
        os.link(path, bak_tmp)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK):
            raise
        with open(path, "rb") as src, open(bak_tmp, "xb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        st = os.stat(path)
        with contextlib.suppress(PermissionError):
            os.chown(bak_tmp, st.st_uid, st.st_gid)
        os.chmod(bak_tmp, st.st_mode & 0o7777)
    return bak_tmp


class NotRegularFileError(OSError):
    """The path is a FIFO, a socket, a device or a directory where a file is expected."""


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | os.PathLike[str], *, nofollow: bool = False) -> int:
    """Open ``path`` read-only without blocking and return the fd of a regular file.

    ``O_NONBLOCK`` makes opening a FIFO return at once; the file type is then checked on
    the open fd (no race with a rename). ``nofollow=True`` also refuses a symlink (ELOOP).
    Raises FileNotFoundError, PermissionError, NotRegularFileError (``strerror`` e.g.
    ``"is a FIFO (named pipe), not a regular file"``) or another OSError.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if nofollow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(
                errno.EINVAL, f"is {_kind(mode)}, not a regular file", os.fspath(path)
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str | os.PathLike[str], max_bytes: int, *, nofollow: bool = False) -> bytes:
    """The content of regular file ``path`` (see :func:`open_regular`), at most ``max_bytes``;
    a larger one raises ``OSError(EFBIG)`` naming the limit."""
    fd = open_regular(path, nofollow=nofollow)
    try:
        return _read_fd(fd, max_bytes, os.fspath(path))
    finally:
        os.close(fd)


def _read_fd(fd: int, max_bytes: int, path: str) -> bytes:
    size = os.fstat(fd).st_size
    if size > max_bytes:
        raise OSError(errno.EFBIG, f"is {size} bytes, more than the {max_bytes} allowed", path)
    chunks, total = [], 0
    while total <= max_bytes:
        chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > max_bytes:  # it grew while being read
        raise OSError(errno.EFBIG, f"is more than the {max_bytes} bytes allowed", path)
    return b"".join(chunks)


def read_json(path: str | os.PathLike[str]) -> tuple[Any, float]:
    """Load a JSON file written by :func:`write_atomic`; return ``(data, mtime)``.

    A missing file raises FileNotFoundError (the caller's "no state yet"); an unreadable,
    oversized or malformed one raises StateError naming the path and the problem.
    """
    path = os.fspath(path)
    try:
        fd = open_regular(path)
        try:
            st = os.fstat(fd)
            if st.st_size > MAX_JSON_BYTES:
                raise StateError(
                    f"{path} is {st.st_size} bytes, more than a state file can be; move it away"
                )
            raw = _read_fd(fd, MAX_JSON_BYTES, path)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise
    except NotRegularFileError as exc:
        raise StateError(f"cannot read {path}: it {_reason(exc)}; move it away") from None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {_reason(exc)}") from None
    try:
        return json.loads(raw.decode("utf-8")), st.st_mtime
    except RecursionError:
        raise StateError(f"{path} is nested too deeply to be a state file; move it away") from None
    except UnicodeDecodeError as exc:
        raise StateError(f"{path} is not UTF-8 text (byte {exc.start}); move it away") from None
    except json.JSONDecodeError as exc:
        raise StateError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); move it away"
        ) from None
