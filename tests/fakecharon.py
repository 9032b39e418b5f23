"""A fake charon on a Unix socket speaking VICI, that can stall mid-reply.

Like strongSwan's own vici tests (``src/libcharon/plugins/vici/python/test``), packets are
built with the binding's own ``Packet``/``Message`` classes and exchanged over a real
socket. ``mode``:

* ``ok``: answers ``list-sas`` with one ``list-sa`` event (``IKE``), and any other command
  with ``success yes``;
* ``stall_mid_reply``: the first reply's length header and part of its payload, then
  silence (the connection stays open);
* ``stall_in_stream``: confirms the event registration, sends half of the first event;
* ``silent``: accepts and reads, never answers;
* ``huge``: announces a 100 MB reply.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from vici.protocol import Message, Packet

EVENT_SA = {
    "con1": {
        "uniqueid": b"1",
        "version": b"2",
        "state": b"ESTABLISHED",
        "local-host": b"192.0.2.1",
        "remote-host": b"198.51.100.1",
        "child-sas": {"con1-1": {"name": b"con1", "state": b"INSTALLED"}},
    }
}


def frame(packet: bytes) -> bytes:
    return struct.pack("!I", len(packet)) + packet


def event(name: str, msg: dict) -> bytes:
    name_b = name.encode()
    return struct.pack("!BB", Packet.EVENT, len(name_b)) + name_b + Message.serialize(msg)


def response(msg: dict) -> bytes:
    return struct.pack("!B", Packet.CMD_RESPONSE) + Message.serialize(msg)


CONFIRM = struct.pack("!B", Packet.EVENT_CONFIRM)


class FakeCharon:
    def __init__(self, path: str, mode: str = "ok"):
        self.path, self.mode = path, mode
        self.requests: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self._conns.append(conn)
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _read_packet(self, conn: socket.socket) -> bytes | None:
        head = b""
        while len(head) < 4:
            chunk = conn.recv(4 - len(head))
            if not chunk:
                return None
            head += chunk
        (n,) = struct.unpack("!I", head)
        body = b""
        while len(body) < n:
            chunk = conn.recv(n - len(body))
            if not chunk:
                return None
            body += chunk
        self.requests.append(body)
        return body

    def _talk(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while not self._stop.is_set():
                pkt = self._read_packet(conn)
                if pkt is None:
                    return
                kind = pkt[0]
                name = pkt[2 : 2 + pkt[1]].decode()
                if self.mode == "silent":
                    continue
                if self.mode == "huge":
                    conn.sendall(struct.pack("!I", 100 * 1024 * 1024) + b"\x01")
                    continue
                if self.mode == "stall_mid_reply":
                    whole = frame(
                        CONFIRM if kind == Packet.EVENT_REGISTER else response({"success": "yes"})
                    )
                    conn.sendall(struct.pack("!I", len(whole) + 50) + whole[4:])  # 50 bytes short
                    self._stop.wait()
                    return
                if kind in (Packet.EVENT_REGISTER, Packet.EVENT_UNREGISTER):
                    conn.sendall(frame(CONFIRM))
                    continue
                if self.mode == "stall_in_stream":
                    ev = frame(event("list-sa", EVENT_SA))
                    conn.sendall(ev[: len(ev) // 2])
                    self._stop.wait()
                    return
                if name == "list-sas":
                    conn.sendall(frame(event("list-sa", EVENT_SA)))
                    conn.sendall(frame(response({})))
                else:
                    conn.sendall(frame(response({"success": "yes"})))

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for c in self._conns:
            with contextlib.suppress(OSError):
                c.close()
        self._thread.join(2)
