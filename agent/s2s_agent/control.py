"""The control socket: versioned JSON lines over a Unix stream socket (mode 0600).

Request (one line):  ``{"version": 1, "command": "status"}``
Reply (one line):    ``{"version": 1, "ok": true, "data": {...}}`` or
                     ``{"version": 1, "ok": false, "error": "..."}``

Commands: ``status`` (the status document), ``ping``. The daemon side is non-blocking and
driven by the daemon's selector, so it never needs a thread or a lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import socket
import stat
from collections.abc import Callable

from .errors import ControlError

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
MAX_REQUEST = 64 * 1024


def _encode(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode() + b"\n"


class ControlServer:
    """Listens on ``path``; ``handlers`` maps a command name to a function returning data."""

    def __init__(self, path: str, handlers: dict[str, Callable[[dict], dict]],
                 selector: selectors.BaseSelector):  # fmt: skip
        self.path = path
        self.handlers = handlers
        self.selector = selector
        self.sock = self._listen(path)
        selector.register(self.sock, selectors.EVENT_READ, self._accept)
        self._buffers: dict[socket.socket, bytearray] = {}

    @staticmethod
    def _listen(path: str) -> socket.socket:
        if os.path.lexists(path):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise ControlError(f"{path} exists and is not a socket; remove it or change agent.control_socket")
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
            raise ControlError(f"cannot create control socket {path}: {exc.strerror}") from None
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(8)
        sock.setblocking(False)
        return sock

    def _accept(self, _mask: int) -> None:
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self._buffers[conn] = bytearray()
        self.selector.register(conn, selectors.EVENT_READ, lambda m, c=conn: self._read(c))

    def _read(self, conn: socket.socket) -> None:
        try:
            chunk = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        buf = self._buffers.get(conn)
        if buf is None:
            return
        if not chunk:
            self._close(conn)
            return
        buf.extend(chunk)
        if b"\n" not in buf and len(buf) < MAX_REQUEST:
            return
        line = bytes(buf.split(b"\n", 1)[0])
        reply = self.handle(line)
        try:
            conn.setblocking(True)
            conn.settimeout(2)
            conn.sendall(_encode(reply))
        except OSError as exc:
            log.debug("control client went away: %s", exc)
        self._close(conn)

    def handle(self, line: bytes) -> dict:
        """Answer one request line (pure apart from the handlers)."""
        try:
            req = json.loads(line.decode("utf-8"))
            if not isinstance(req, dict):
                raise ValueError("request must be a JSON object")
        except (UnicodeDecodeError, ValueError) as exc:
            return {"version": PROTOCOL_VERSION, "ok": False, "error": f"bad request: {exc}"}
        if req.get("version") != PROTOCOL_VERSION:
            return {"version": PROTOCOL_VERSION, "ok": False,
                    "error": f"unsupported protocol version {req.get('version')!r}; "
                             f"this daemon speaks {PROTOCOL_VERSION}"}  # fmt: skip
        handler = self.handlers.get(str(req.get("command")))
        if handler is None:
            return {"version": PROTOCOL_VERSION, "ok": False,
                    "error": f"unknown command {req.get('command')!r}; known: "
                             + ", ".join(sorted(self.handlers))}  # fmt: skip
        try:
            return {"version": PROTOCOL_VERSION, "ok": True, "data": handler(req)}
        except Exception as exc:  # a handler bug must not kill the daemon
            log.exception("control command %s failed", req.get("command"))
            return {"version": PROTOCOL_VERSION, "ok": False, "error": f"internal error: {exc}"}

    def _close(self, conn: socket.socket) -> None:
        self._buffers.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn)
        conn.close()

    def close(self) -> None:
        for conn in list(self._buffers):
            self._close(conn)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.sock)
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


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
