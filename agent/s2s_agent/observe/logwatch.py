"""Follow a growing log file (the charon log) by polling, across rotation and truncation.

FreeBSD has no inotify, so :class:`LogTailer` polls: each :meth:`LogTailer.poll` reads what
was appended since the previous one and returns the complete lines. Rotation is detected
the way fail2ban's polling backend does it, by the file's identity (device, inode) and size:

- **rename rotation** (newsyslog: ``ipsec.log`` → ``ipsec.log.0``, new empty ``ipsec.log``):
  the old file's remaining bytes are read from the still-open descriptor first, then the
  new file from its start. The old descriptor stays open for one more poll, because
  syslogd keeps writing to it until newsyslog's SIGHUP makes it reopen the path.
- **copy-truncate** (size smaller than our offset): re-read from offset 0.
- **missing / deleted / unreadable**: no exception; ``poll()`` returns ``[]`` and
  ``status()`` says why. A file that appears later is read from its start (it is new).

``poll()`` schema: ``list[str]``, one entry per complete line, without its ``\\n`` (a
trailing ``\\r`` is dropped too), decoded as UTF-8 with ``errors="replace"``; NUL bytes are
kept. A line longer than ``max_line`` bytes is cut to ``max_line`` bytes and returned once;
the rest of it is skipped. At most ``max_read`` bytes are read per poll; the rest comes on
the next polls.

``status()`` schema::

    {"path": str, "state": "ok" | "missing" | "error", "error": str | None,
     "inode": int | None, "offset": int | None, "pending_bytes": int,
     "draining_rotated": bool}
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
MAX_READ = 4 * 1024 * 1024
MAX_LINE = 16384


def _open_fd(path: str) -> int:
    """Open ``path`` read-only without blocking on a FIFO (a seam for tests)."""
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))


def _decode(raw: bytes) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", errors="replace")


class _FileCursor:
    """One open log file: descriptor, identity, offset and the pending partial line."""

    def __init__(self, fd: int, st: os.stat_result, offset: int, max_line: int):
        self.fd = fd
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.offset = offset
        self.max_line = max_line
        self.pending = bytearray()
        self.skipping = False  # inside the rest of an over-long line already returned

    def same_file(self, st: os.stat_result) -> bool:
        return (st.st_dev, st.st_ino) == (self.dev, self.ino)

    def restart(self) -> None:
        """The file was truncated in place: start over at offset 0."""
        self.offset = 0
        self.pending.clear()
        self.skipping = False

    def read(self, budget: int, lines: list[str]) -> int:
        """Read at most ``budget`` bytes from ``offset``, append complete lines to ``lines``.

        Returns the number of bytes read (0: nothing new).
        """
        total = 0
        while total < budget:
            data = os.pread(self.fd, min(CHUNK, budget - total), self.offset)
            if not data:
                break
            self.offset += len(data)
            total += len(data)
            self._feed(data, lines)
        return total

    def _feed(self, data: bytes, out: list[str]) -> None:
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            piece = data[start:nl]
            start = nl + 1
            if self.skipping:
                self.skipping = False
                continue
            self.pending += piece
            out.append(_decode(bytes(self.pending[: self.max_line])))
            self.pending.clear()
        rest = data[start:]
        if self.skipping or not rest:
            return
        self.pending += rest
        if len(self.pending) > self.max_line:
            # bounded memory: return the cut line now, drop the rest of it until its newline
            out.append(_decode(bytes(self.pending[: self.max_line])))
            self.pending.clear()
            self.skipping = True

    def flush(self) -> list[str]:
        """The file will not grow any more: its unterminated last line, if any."""
        if not self.pending:
            return []
        line = _decode(bytes(self.pending[: self.max_line]))
        self.pending.clear()
        return [line]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class LogTailer:
    """Poll-based ``tail -F`` for one file; see the module docstring for the contract."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        start_at_end: bool = True,
        max_line: int = MAX_LINE,
        max_read: int = MAX_READ,
    ):
        if max_line < 1 or max_read < 1:
            raise ValueError("max_line and max_read must be positive")
        self.path = os.fspath(path)
        self.max_line = max_line
        self.max_read = max_read
        self._cur: _FileCursor | None = None
        self._old: _FileCursor | None = None  # rotated file, drained until it stops growing
        self._state = "missing"
        self._error: str | None = None
        self._open(at_end=start_at_end)

    # ---- public ---------------------------------------------------------------------------
    def poll(self) -> list[str]:
        """Return the complete lines appended since the last poll (possibly ``[]``).

        Never raises for file trouble: a read error is reported by :meth:`status` and the
        lines gathered before it are still returned.
        """
        lines: list[str] = []
        try:
            return self._poll(lines)
        except OSError as exc:
            self._set_state("error", f"cannot read {self.path}: {exc.strerror or exc}")
            return lines

    def _poll(self, lines: list[str]) -> list[str]:
        budget = self.max_read
        if self._old is not None:
            n = self._old.read(budget, lines)
            budget -= n
            if n == 0:
                self._close_old(lines)
        if self._cur is None:
            if self._open(at_end=False):
                self._cur.read(budget, lines)  # type: ignore[union-attr]
            return lines
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._rotate_away(lines, budget)
            self._set_state("missing", None)
            return lines
        except OSError as exc:
            self._cur.read(budget, lines)
            self._set_state("error", f"cannot stat {self.path}: {exc.strerror or exc}")
            return lines
        if not self._cur.same_file(st):
            budget -= self._rotate_away(lines, budget)
            if self._open(at_end=False) and budget > 0:
                self._cur.read(budget, lines)  # type: ignore[union-attr]
            return lines
        try:
            size = os.fstat(self._cur.fd).st_size
        except OSError:
            size = st.st_size
        if size < self._cur.offset:
            log.info(
                "%s was truncated (size %d < offset %d): reading it from the start",
                self.path,
                size,
                self._cur.offset,
            )
            self._cur.restart()
        self._cur.read(budget, lines)
        self._set_state("ok", None)
        return lines

    def status(self) -> dict:
        """Where the tailer stands (for ``s2s-agent status``); see the module docstring."""
        cur = self._cur
        return {
            "path": self.path,
            "state": self._state,
            "error": self._error,
            "inode": cur.ino if cur else None,
            "offset": cur.offset if cur else None,
            "pending_bytes": len(cur.pending) if cur else 0,
            "draining_rotated": self._old is not None,
        }

    def close(self) -> None:
        """Close the descriptors (the tailer can be polled again; it reopens from the start)."""
        for r in (self._old, self._cur):
            if r is not None:
                r.close()
        self._old = self._cur = None

    # ---- internals ------------------------------------------------------------------------
    def _open(self, *, at_end: bool) -> bool:
        try:
            fd = _open_fd(self.path)
        except FileNotFoundError:
            self._set_state("missing", None)
            return False
        except OSError as exc:
            self._set_state("error", f"cannot open {self.path}: {exc.strerror or exc}")
            return False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            offset = st.st_size if at_end else 0
            reader = _FileCursor(fd, st, offset, self.max_line)
            if at_end and offset > 0 and os.pread(fd, 1, offset - 1) != b"\n":
                reader.skipping = True  # we start mid-line: never return its tail alone
        except OSError as exc:
            os.close(fd)
            self._set_state("error", f"cannot read {self.path}: {exc.strerror or exc}")
            return False
        self._cur = reader
        self._set_state("ok", None)
        log.debug("following %s (inode %d) from offset %d", self.path, st.st_ino, offset)
        return True

    def _rotate_away(self, lines: list[str], budget: int) -> int:
        """The path no longer names our file: drain it and keep it as the old reader."""
        cur = self._cur
        assert cur is not None
        self._cur = None
        if self._old is not None:  # rotated twice between polls: finish the older one first
            self._close_old(lines)
        self._old = cur
        n = cur.read(budget, lines)
        log.info(
            "%s was rotated or removed (old inode %d); finishing the old file", self.path, cur.ino
        )
        return n

    def _close_old(self, lines: list[str]) -> None:
        old = self._old
        if old is None:
            return
        rest = old.flush()
        if rest:
            log.debug("%s: rotated file ended without a newline", self.path)
        lines += rest
        old.close()
        self._old = None

    def _set_state(self, state: str, error: str | None) -> None:
        if (state, error) != (self._state, self._error):
            if state == "error":
                log.warning("log file: %s", error)
            elif state == "missing":
                log.warning("log file %s does not exist (yet); waiting for it", self.path)
            elif self._state != "ok":
                log.info("log file %s is readable again", self.path)
        self._state, self._error = state, error
