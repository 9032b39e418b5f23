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

import os
import stat

from ..core.atomic import write_atomic
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
    then the file is unchanged. The write itself is :func:`..core.atomic.write_atomic`.
    """
    target = target_of(path)
    write_atomic(
        target, data, mode=stat.S_IMODE(st.st_mode), owner=(st.st_uid, st.st_gid), backup=backup
    )
    return target
