"""The control socket: versioned JSON lines over a Unix stream socket (mode 0600).

Request (one line):  ``{"version": 1, "command": "status"}``
Reply (one line):    ``{"version": 1, "ok": true, "data": {...}}`` or
                     ``{"version": 1, "ok": false, "error": "..."}``

Commands: ``status`` (the status document), ``ping``, ``plan``, ``remediate``. The daemon
side is non-blocking and driven by the daemon's selector, so it never needs a thread or a
lock. No request can hurt it: malformed or deeply nested JSON gets an error reply, a client
that sends nothing or never reads is dropped after CLIENT_TIMEOUT, and running out of file
descriptors pauses accepting instead of ending the daemon.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import selectors
import socket
import stat
import time
from collections.abc import Callable

from ..core.errors import ControlError

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
MAX_REQUEST = 64 * 1024
CLIENT_TIMEOUT = 5.0
"""Seconds a client has to send its request and read the reply; then it is dropped."""
MAX_CLIENTS = 64
"""Connections served at once; more are answered "busy" and closed."""
BACKLOG = 128
"""Pending connections the kernel queues while the daemon is busy (32 parallel clients fit)."""
ACCEPT_PAUSE = 0.5
"""Seconds the accept loop rests after EMFILE/ENFILE (out of file descriptors)."""
MAX_SUN_PATH = 103  # sizeof(sun_path) - 1 on FreeBSD (104); Linux allows 107


def _encode(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode() + b"\n"


def _error(message: str) -> dict:
    return {"version": PROTOCOL_VERSION, "ok": False, "error": message}


class _Client:
    __slots__ = ("sock", "inbuf", "outbuf", "deadline")

    def __init__(self, sock: socket.socket, deadline: float):
        self.sock, self.inbuf, self.outbuf, self.deadline = sock, bytearray(), b"", deadline


class ControlServer:
    """Listens on ``path``; ``handlers`` maps a command name to a function returning data.

    Everything is non-blocking: requests are read and replies written as the selector says
    the socket is ready. :meth:`sweep` (the daemon calls it every loop, at the latest at
    :meth:`next_deadline`) drops clients older than CLIENT_TIMEOUT and resumes accepting
    after a pause for lack of file descriptors.
    """

    def __init__(
        self,
        path: str,
        handlers: dict[str, Callable[[dict], dict]],
        selector: selectors.BaseSelector,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.path = path
        self.handlers = handlers
        self.selector = selector
        self.monotonic = monotonic
        self.sock = self._listen(path)
        selector.register(self.sock, selectors.EVENT_READ, self._accept)
        self._clients: dict[socket.socket, _Client] = {}
        self._paused_until: float | None = None
        self._accept_errors = 0

    @staticmethod
    def _listen(path: str) -> socket.socket:
        if len(os.fsencode(path)) > MAX_SUN_PATH:
            raise ControlError(
                f"control socket path {path} is {len(os.fsencode(path))} bytes; "
                f"a Unix socket path must be at most {MAX_SUN_PATH}: choose a "
                "shorter agent.control_socket"
            )
        if os.path.lexists(path):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise ControlError(
                    f"{path} exists and is not a socket; remove it or change agent.control_socket"
                )
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            probe.settimeout(1)
            try:
                probe.connect(path)
            except OSError:
                os.unlink(path)  # stale socket of a dead daemon
            else:
                raise ControlError(f"another s2s-agent is already listening on {path}")
            finally:
                probe.close()
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            raise ControlError(
                f"cannot create control socket {path}: {exc.strerror or exc} (agent.control_socket)"
            ) from None
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(BACKLOG)
        sock.setblocking(False)
        return sock

    # ---- the selector callbacks --------------------------------------------------------
    def _accept(self, _mask: int) -> None:
        for _ in range(BACKLOG):  # drain what is queued, fairly bounded
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._pause(exc)
                else:  # ECONNABORTED and friends: that client is gone, the next may not be
                    log.debug("control accept: %s", exc)
                return
            self._accept_errors = 0
            if len(self._clients) >= MAX_CLIENTS:
                with contextlib.suppress(OSError):
                    conn.setblocking(False)
                    conn.send(_encode(_error("busy: too many control clients; try again")))
                conn.close()
                continue
            conn.setblocking(False)
            self._clients[conn] = _Client(conn, self.monotonic() + CLIENT_TIMEOUT)
            self.selector.register(conn, selectors.EVENT_READ, lambda m, c=conn: self._ready(c, m))

    def _pause(self, exc: OSError) -> None:
        """Out of file descriptors: stop accepting for a moment instead of spinning (or dying)."""
        self._accept_errors += 1
        if self._accept_errors == 1:
            log.error(
                "control socket: cannot accept a client (%s); pausing %.1fs",
                exc.strerror,
                ACCEPT_PAUSE,
            )
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.sock)
        self._paused_until = self.monotonic() + ACCEPT_PAUSE
        self._drop_oldest()

    def _drop_oldest(self) -> None:
        if self._clients:
            oldest = min(self._clients.values(), key=lambda c: c.deadline)
            self._close(oldest.sock)

    def _ready(self, conn: socket.socket, mask: int) -> None:
        client = self._clients.get(conn)
        if client is None:
            return
        if client.outbuf:
            self._write(client)
        elif mask & selectors.EVENT_READ:
            self._read(client)

    def _read(self, client: _Client) -> None:
        conn = client.sock
        try:
            chunk = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close(conn)
            return
        client.inbuf.extend(chunk)
        if b"\n" not in client.inbuf and len(client.inbuf) < MAX_REQUEST:
            return
        line = bytes(client.inbuf.split(b"\n", 1)[0])[:MAX_REQUEST]
        client.outbuf = self.reply(line)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(conn, selectors.EVENT_WRITE, lambda m, c=conn: self._ready(c, m))
        self._write(client)

    def _write(self, client: _Client) -> None:
        try:
            sent = client.sock.send(client.outbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("control client went away: %s", exc)
            self._close(client.sock)
            return
        client.outbuf = client.outbuf[sent:]
        if not client.outbuf:
            self._close(client.sock)

    # ---- time-outs -------------------------------------------------------------------------
    def sweep(self) -> None:
        """Drop clients past their deadline; resume accepting after a pause."""
        now = self.monotonic()
        for client in [c for c in self._clients.values() if c.deadline <= now]:
            log.debug("control client timed out after %.0fs", CLIENT_TIMEOUT)
            self._close(client.sock)
        if self._paused_until is not None and now >= self._paused_until:
            self._paused_until = None
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.selector.register(self.sock, selectors.EVENT_READ, self._accept)

    def next_deadline(self) -> float | None:
        """The monotonic time :meth:`sweep` has work to do, or None."""
        times = [c.deadline for c in self._clients.values()]
        if self._paused_until is not None:
            times.append(self._paused_until)
        return min(times) if times else None

    # ---- the protocol ------------------------------------------------------------------
    def reply(self, line: bytes) -> bytes:
        """The encoded reply to one request line; never raises."""
        try:
            return _encode(self.handle(line))
        except Exception as exc:  # a handler returned something JSON cannot encode
            log.exception("control reply could not be encoded")
            return _encode(_error(f"internal error: {type(exc).__name__}"))

    def handle(self, line: bytes) -> dict:
        """Answer one request line (pure apart from the handlers); never raises."""
        try:
            req = json.loads(line.decode("utf-8"))
            if not isinstance(req, dict):
                raise ValueError("request must be a JSON object")
        except RecursionError:
            return _error("bad request: nested too deeply")
        except (UnicodeDecodeError, ValueError) as exc:
            return _error(f"bad request: {exc}")
        version = req.get("version")
        if type(version) is not int or version != PROTOCOL_VERSION:  # true == 1 in Python
            return _error(
                f"unsupported protocol version {_short(version)}; "
                f"this daemon speaks {PROTOCOL_VERSION}"
            )
        command = req.get("command")
        handler = self.handlers.get(command) if isinstance(command, str) else None
        if handler is None:
            return _error(
                f"unknown command {_short(command)}; known: " + ", ".join(sorted(self.handlers))
            )
        try:
            return {"version": PROTOCOL_VERSION, "ok": True, "data": handler(req)}
        except Exception as exc:  # a handler bug must not kill the daemon
            log.exception("control command %s failed", command)
            return _error(f"internal error: {exc}")

    def _close(self, conn: socket.socket) -> None:
        self._clients.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn)
        conn.close()

    def close(self) -> None:
        for conn in list(self._clients):
            self._close(conn)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.sock)
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def request(path: str, command: str, *, timeout: float = 5.0, **args) -> dict:
    """Client side: send one command and return ``data``; ControlError on any failure."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        sock.sendall(_encode({"version": PROTOCOL_VERSION, "command": command, **args}))
        buf = bytearray()
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf.extend(chunk)
    except FileNotFoundError:
        raise ControlError(f"the daemon is not running (no control socket at {path})") from None
    except ConnectionRefusedError:
        raise ControlError(f"the daemon is not running (nobody listens on {path})") from None
    except PermissionError:
        raise ControlError(f"permission denied on {path}: run as root") from None
    except TimeoutError:
        raise ControlError(f"the daemon did not answer on {path} within {timeout:g}s") from None
    except OSError as exc:
        raise ControlError(f"control socket {path}: {exc.strerror or exc}") from None
    finally:
        sock.close()
    try:
        reply = json.loads(bytes(buf).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ControlError(f"the daemon sent an unreadable reply on {path}") from None
    if not isinstance(reply, dict) or reply.get("version") != PROTOCOL_VERSION:
        raise ControlError(f"the daemon on {path} speaks another protocol version")
    if not reply.get("ok"):
        raise ControlError(f"the daemon refused: {reply.get('error')}")
    return reply.get("data") or {}
