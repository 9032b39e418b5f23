"""Read and replace a configuration file someone else owns, keeping it as it was.

Used for swanctl.conf: the rewrite must change only the bytes it means to change.

* :func:`read_raw` returns the exact bytes (no newline translation: CRLF and CR files stay
  CRLF and CR) and the file's :class:`os.stat_result`; it opens with ``O_NONBLOCK`` and
  refuses anything but a regular file, so a FIFO put in its place cannot block the agent.
* :func:`replace_preserving` writes a temporary file in the *target's* directory with the
  original owner, group and mode (set on the descriptor before the rename, so the file is
  never visible with other ones), fsyncs it and renames it over the target. A symlinked
  file stays a symlink: the link's target is replaced, not the link. ``backup=True`` keeps
  the previous version as ``<target>.bak`` (a hard link: byte-identical, same owner).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile

from ..core.errors import StateError

MAX_BYTES = 16 * 1024 * 1024


def target_of(path: str) -> str:
    """The file a write to ``path`` must replace (a symlink's final target)."""
    return os.path.realpath(path) if os.path.islink(path) else path


def read_raw(path: str) -> tuple[bytes, os.stat_result]:
    """The file's bytes and stat; OSError (FileNotFoundError ...) as the OS raised it,
    StateError for a non-regular or oversized file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StateError(f"{path} is not a regular file")
        if st.st_size > MAX_BYTES:
            raise StateError(f"{path} is {st.st_size} bytes, too large for a configuration file")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def replace_preserving(path: str, data: bytes, st: os.stat_result, *, backup: bool = False) -> str:
    """Replace ``path`` (its symlink target) with ``data``, owner/group/mode from ``st``.

    Returns the path actually replaced. Raises StateError naming the path and the OS reason;
    then the file is unchanged.
    """
    target = target_of(path)
    directory, name = os.path.split(os.path.abspath(target))
    tmp: str | None = None
    bak_tmp: str | None = None
    step = "create a temporary file next to"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        try:
            step = "write"
            with contextlib.suppress(PermissionError):  # not root (tests): keep our own owner
                os.fchown(fd, st.st_uid, st.st_gid)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if backup:
            step = "keep a backup of"
            bak_tmp = tmp + ".bak"
            _link_or_copy(target, bak_tmp, st)
            os.replace(bak_tmp, target + ".bak")
            bak_tmp = None
        step = "replace"
        os.replace(tmp, target)
        tmp = None
        dfd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(dfd)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
                raise
        finally:
            os.close(dfd)
    except OSError as exc:
        raise StateError(
            f"cannot {step} {target}: {exc.strerror or exc}; the previous version is unchanged"
        ) from None
    finally:
        for leftover in (tmp, bak_tmp):
            if leftover is not None:
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
    return target


def _link_or_copy(src: str, dst: str, st: os.stat_result) -> None:
    """A hard link (byte-identical, same owner); a copy with the same owner and mode where
    the file system refuses links."""
    try:
        os.link(src, dst)
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK):
            raise
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with contextlib.suppress(PermissionError):
            os.fchown(fd, st.st_uid, st.st_gid)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        with open(src, "rb") as f:
            while chunk := f.read(1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
