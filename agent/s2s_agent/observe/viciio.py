"""VICI sessions whose every call ends by a deadline.

strongSwan's ``vici`` package reads a reply with ``Transport._recvall``, which turns the
socket timeout *off* after the first byte (to avoid partial reads): a charon that stalls
in the middle of a reply blocks the caller forever. :class:`DeadlineTransport` replaces
that transport: every ``send``/``recv`` gets the time left until one deadline for the
whole call (``TimeoutError`` once it has passed), and a length header above charon's own
limit (``VICI_MESSAGE_SIZE_MAX``, 512 KiB) is refused instead of trusted.

Wire format (strongSwan ``src/libcharon/plugins/vici/vici_socket.c``): a 32-bit big-endian
length, then that many bytes of packet. Used by :mod:`.sources` and :mod:`.tunnelctl`.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MAX_MESSAGE = 512 * 1024
"""charon's VICI_MESSAGE_SIZE_MAX: no reply is longer."""


class ViciProtocolError(Exception):
    """charon sent something that is not a VICI packet (mapped by the callers)."""


class DeadlineTransport:
    """Drop-in for ``vici.protocol.Transport``: the same ``send``/``receive``/``close``,
    bounded by ``deadline`` (a ``time.monotonic()`` value)."""

    HEADER = struct.Struct("!I")

    def __init__(self, sock: socket.socket, deadline: float):
        self.socket = sock
        self.deadline = deadline

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("VICI call deadline passed")
        return left

    def send(self, packet: bytes) -> None:
        data = memoryview(self.HEADER.pack(len(packet)) + packet)
        while data:
            self.socket.settimeout(self._left())
            data = data[self.socket.send(data) :]

    def receive(self, timeout: Any = None) -> bytes:
        (length,) = self.HEADER.unpack(self._recvall(self.HEADER.size))
        if length > MAX_MESSAGE:
            raise ViciProtocolError(
                f"VICI message of {length} bytes announced (limit {MAX_MESSAGE})"
            )
        return self._recvall(length)

    def _recvall(self, count: int) -> bytes:
        buf = bytearray()
        while len(buf) < count:
            self.socket.settimeout(self._left())
            chunk = self.socket.recv(min(count - len(buf), 65536))
            if not chunk:
                raise ConnectionResetError("charon closed the VICI connection mid-reply")
            buf += chunk
        return bytes(buf)

    def close(self) -> None:
        self.socket.close()


def session_on(sock: socket.socket, timeout: float) -> Any:
    """A ``vici.Session`` on the connected ``sock`` whose calls all end within ``timeout``
    seconds from now."""
    import vici  # strongSwan's own binding; small, pure Python

    session = vici.Session(sock)
    session.transport = DeadlineTransport(sock, time.monotonic() + timeout)
    return session


@contextmanager
def session(socket_path: str, timeout: float) -> Iterator[Any]:
    """Connect to charon's VICI socket; the whole ``with`` block has ``timeout`` seconds.

    Raises what the socket raises (FileNotFoundError, ConnectionRefusedError,
    TimeoutError, other OSError), ViciProtocolError, or vici's own exceptions.
    """
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        yield session_on(sock, max(0.0, deadline - time.monotonic()))
    finally:
        sock.close()
