"""Send alert lines to the local syslogd (RFC 3164 over its AF_UNIX socket).

One datagram per message::

    <PRI>Mmm dd hh:mm:ss tag[pid]: message

``PRI = facility * 8 + severity``; the timestamp is local time with English month names
and a space-padded day (``Nov  6 09:05:01``), as syslogd expects from a local client; no
host name (syslogd adds its own). If the socket is a stream socket (some Linux setups),
the message is sent over SOCK_STREAM terminated by a NUL byte, as glibc's syslog(3) does.

:class:`SyslogSender` never raises on I/O trouble: ``send`` returns False, logs one
warning per outage, and reconnects on the next call. Facility and severity names are
validated with :func:`facility_code` / :func:`severity_code` (ValueError with the list of
valid names; the config validator can call them).
"""

from __future__ import annotations

import collections
import errno
import logging
import os
import platform
import socket
import threading
import time

from ..config.settings import FACILITIES

log = logging.getLogger(__name__)

SEVERITIES: dict[str, int] = {
    "emerg": 0,
    "alert": 1,
    "crit": 2,
    "err": 3,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}
_SEVERITY_ALIASES = {
    "error": "err",
    "warn": "warning",
    "critical": "crit",
    "emergency": "emerg",
    "panic": "emerg",
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

SEND_TIMEOUT = 0.25
"""Seconds one send may wait for a stalled syslogd (the daemon's main loop sends alerts)."""
DEFAULT_SOCKETS = {"FreeBSD": "/var/run/log", "Linux": "/dev/log", "Darwin": "/var/run/syslog"}
MAX_BYTES = 2048
"""Longest datagram sent; longer messages are cut (FreeBSD's syslogd takes 8 KiB, RFC 3164
says 1 KiB; 2 KiB keeps a whole alert with room to spare)."""


def facility_code(name: str) -> int:
    """``"daemon"`` → 3. ValueError naming the valid facilities for anything else."""
    key = str(name).strip().lower()
    if key not in FACILITIES:
        raise ValueError(f"unknown syslog facility {name!r}; valid: {', '.join(FACILITIES)}")
    return FACILITIES[key]


def severity_code(name: str) -> int:
    """``"err"`` (or ``"error"``) → 3. ValueError naming the valid severities otherwise."""
    key = str(name).strip().lower()
    key = _SEVERITY_ALIASES.get(key, key)
    if key not in SEVERITIES:
        raise ValueError(f"unknown syslog severity {name!r}; valid: {', '.join(SEVERITIES)}")
    return SEVERITIES[key]


def default_socket(system: str | None = None) -> str:
    """The local syslogd socket of ``system`` (``platform.system()`` by default)."""
    return DEFAULT_SOCKETS.get(system or platform.system(), "/dev/log")


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return " ".join(part.strip() for part in text.split("\n")).replace("\0", " ")


def _cut(data: bytes, limit: int) -> bytes:
    """Cut UTF-8 ``data`` to at most ``limit`` bytes without splitting a character."""
    if len(data) <= limit:
        return data
    marker = b"..."
    return data[: max(0, limit - len(marker))].decode("utf-8", "ignore").encode() + marker


def format_message(
    facility: int,
    severity: int,
    tag: str,
    message: str,
    *,
    pid: int | None = None,
    now: float | None = None,
    max_bytes: int = MAX_BYTES,
) -> bytes:
    """One RFC 3164 line as bytes (pure given ``pid`` and ``now``)."""
    t = time.localtime(time.time() if now is None else now)
    stamp = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    head = f"<{facility * 8 + severity}>{stamp} {tag}[{os.getpid() if pid is None else pid}]: "
    return _cut((head + _clean(message)).encode("utf-8", "replace"), max_bytes)


class SyslogSender:
    """Writes alert lines to syslogd; see the module docstring."""

    def __init__(
        self,
        socket_path: str | None = None,
        facility: str = "daemon",
        tag: str = "s2s-agent",
        *,
        max_bytes: int = MAX_BYTES,
    ):
        self.socket_path = socket_path or default_socket()
        self.facility = facility_code(facility)
        tag = _clean(tag).replace(" ", "_").replace("[", "").replace(":", "") or "s2s-agent"
        self.tag = tag[:32]
        self.max_bytes = max(64, int(max_bytes))
        self._sock: socket.socket | None = None
        self._stream = False
        self._outage: str | None = None  # reason of the current outage, None when fine
        self._lock = threading.Lock()

    @property
    def ok(self) -> bool:
        """False while syslogd cannot be reached (since the last failed send)."""
        return self._outage is None

    def send(self, severity: str, message: str) -> bool:
        """Send one line; True when syslogd took it. ValueError only for a bad severity name."""
        sev = severity_code(severity)
        data = format_message(self.facility, sev, self.tag, message, max_bytes=self.max_bytes)
        with self._lock:
            try:
                self._send_once(data)
            except OSError:
                self._close()
                try:  # syslogd restarted: its socket is new, one fresh connection is enough
                    self._send_once(data)
                except OSError as exc:
                    self._close()
                    self._report_outage(exc)
                    return False
            if self._outage is not None:
                log.info("syslog socket %s works again", self.socket_path)
                self._outage = None
            return True

    def close(self) -> None:
        with self._lock:
            self._close()

    # ---- internals ------------------------------------------------------------------------
    def _send_once(self, data: bytes) -> None:
        if self._sock is None:
            self._connect()
        assert self._sock is not None
        if self._stream:
            self._sock.sendall(data + b"\0")
        else:
            self._sock.send(data)

    def _connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.settimeout(SEND_TIMEOUT)
        try:
            s.connect(self.socket_path)
            self._sock, self._stream = s, False
            return
        except OSError as exc:
            s.close()
            if exc.errno != errno.EPROTOTYPE:
                raise
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(SEND_TIMEOUT)
        try:
            s.connect(self.socket_path)
        except OSError:
            s.close()
            raise
        self._sock, self._stream = s, True

    def _close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _report_outage(self, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        if self._outage is None:
            log.warning(
                "cannot send alerts to syslog at %s: %s; alerts are only in the agent's "
                "log until it is reachable again",
                self.socket_path,
                reason,
            )
        self._outage = reason


MAX_QUEUE = 256
"""Alert lines held for a slow syslogd; beyond it the oldest are dropped (and counted)."""


class QueuedSender:
    """A :class:`SyslogSender` behind a bounded queue and one sending thread.

    ``send`` only validates the severity and queues the line, so the daemon's main loop never
    waits on syslogd: a full datagram queue (Linux holds 10 by default) or a stalled syslogd
    costs this thread up to :data:`SEND_TIMEOUT` per try, never the loop. Order is kept. When
    more than ``max_queue`` lines wait, the oldest are dropped; the next line that gets
    through is preceded by ``event=alerts_dropped count=N`` so the gap is visible in syslog.
    ``close`` sends what is queued within ``flush_timeout`` seconds, then stops.
    """

    def __init__(self, sender: SyslogSender, *, max_queue: int = MAX_QUEUE):
        self.sender = sender
        self.max_queue = max(1, int(max_queue))
        self._queue: collections.deque[tuple[str, str]] = collections.deque()
        self._dropped = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def ok(self) -> bool:
        return self.sender.ok

    @property
    def socket_path(self) -> str:
        return self.sender.socket_path

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def send(self, severity: str, message: str) -> bool:
        """Queue one line (True), or False after :meth:`close`. ValueError for a bad severity."""
        severity_code(severity)
        with self._cond:
            if self._closing:
                return False
            if len(self._queue) >= self.max_queue:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append((severity, message))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="syslog-send", daemon=True)
                self._thread.start()
            self._cond.notify()
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                severity, message = self._queue.popleft()
                dropped, self._dropped = self._dropped, 0
            try:
                if dropped:
                    self.sender.send(
                        "warning",
                        f"event=alerts_dropped count={dropped} reason=syslog_too_slow "
                        f"socket={self.sender.socket_path}",
                    )
                self.sender.send(severity, message)
            except Exception:  # a bug here must not end alerting
                log.exception("sending an alert to syslog failed")

    def close(self, flush_timeout: float = 2.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(flush_timeout)
            if thread.is_alive():
                with self._cond:
                    left = len(self._queue)
                    self._queue.clear()
                log.warning("syslog did not take %d alert line(s) before shutdown", left)
        self.sender.close()
