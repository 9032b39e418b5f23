"""tunnelctl against a fake charon that speaks the real VICI wire protocol (the lab tests use
the real charon): terminate, initiate, list-conns, and every way the socket can fail."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from pathlib import Path

import pytest
from vici.protocol import FiniteStream, Message

from s2s_agent.act import tunnelctl
from s2s_agent.core.errors import LocalApplyError

CMD_REQUEST, CMD_RESPONSE, EVENT_REGISTER, EVENT_UNREGISTER, EVENT_CONFIRM, EVENT = 0, 1, 3, 4, 5, 7


class FakeCharon:
    """Serves VICI on ``path``: ``answers[command] = (events, response)``; records requests."""

    def __init__(self, path: Path, answers: dict, *, silent: bool = False):
        self.path, self.answers, self.silent = str(path), answers, silent
        self.requests: list[tuple[str, dict]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _recv(self, conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _send(self, conn, payload: bytes):
        conn.sendall(struct.pack("!I", len(payload)) + payload)

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(EOFError, OSError):
                self._session(conn)

    def _session(self, conn):
        event = b""
        while True:
            (length,) = struct.unpack("!I", self._recv(conn, 4))
            payload = self._recv(conn, length)
            if self.silent:
                continue  # a charon that reads and never answers
            kind, nlen = payload[0], payload[1]
            name = payload[2 : 2 + nlen]
            if kind in (EVENT_REGISTER, EVENT_UNREGISTER):
                event = name
                self._send(conn, bytes([EVENT_CONFIRM]))
            elif kind == CMD_REQUEST:
                msg = Message.deserialize(FiniteStream(payload[2 + nlen :]))
                command = name.decode()
                self.requests.append((command, msg))
                events, response = self.answers[command]
                for ev in events:
                    self._send(conn, bytes([EVENT, len(event)]) + event + Message.serialize(ev))
                self._send(conn, bytes([CMD_RESPONSE]) + Message.serialize(response))

    def close(self):
        self.sock.close()


OK = {"success": "yes"}


@pytest.fixture
def charon(tmp_path):
    made = []

    def make(answers, **kw):
        c = FakeCharon(tmp_path / "charon.vici", answers, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def test_list_conns_gives_the_loaded_local_ids(charon):
    conn = {
        "con1": {
            "local_addrs": ["%any"],
            "local-1": {"class": "pre-shared key", "id": "192.0.2.77"},
            "local-2": {"class": "pre-shared key", "id": "fqdn.example"},
            "remote-1": {"id": "203.0.113.1"},
            "children": {"con1": {}},
        }
    }
    c = charon({"list-conns": ([conn], OK)})
    assert tunnelctl.conn_local_ids("con1", 2, socket_path=c.path) == ["192.0.2.77", "fqdn.example"]
    assert c.requests == [("list-conns", {"ike": b"con1"})]
    c2_answers = {"list-conns": ([], OK)}
    c.answers.update(c2_answers)
    assert tunnelctl.conn_local_ids("con1", 2, socket_path=c.path) == []  # not loaded at all


def test_terminate_forces_and_tells_none_from_done(charon):
    c = charon({"terminate": ([{"msg": b"deleting IKE_SA con1[3]"}], OK)})
    assert tunnelctl.terminate_ike("con1", 2, socket_path=c.path) is True
    assert c.requests[-1] == ("terminate", {"ike": b"con1", "force": b"yes"})
    c.answers["terminate"] = ([], {"success": "no", "errmsg": "no matching SAs to terminate found"})
    assert tunnelctl.terminate_ike("con1", 2, socket_path=c.path) is False
    c.answers["terminate"] = ([], {"success": "no", "errmsg": "terminating IKE_SA failed"})
    with pytest.raises(
        LocalApplyError, match="terminate ike=con1 .* failed: terminating IKE_SA failed"
    ):
        tunnelctl.terminate_ike("con1", 2, socket_path=c.path)


def test_initiate_reports_charons_reason(charon):
    c = charon({"initiate": ([{"msg": b"establishing CHILD_SA con1"}], OK)})
    took = tunnelctl.initiate_child("con1", 3, socket_path=c.path)
    assert took >= 0 and c.requests[-1] == (
        "initiate",
        {"child": b"con1", "timeout": b"3000", "init-limits": b"no"},
    )
    c.answers["initiate"] = ([], {"success": "no", "errmsg": "establishing CHILD_SA 'con1' failed"})
    with pytest.raises(LocalApplyError) as exc:
        tunnelctl.initiate_child("con1", 3, socket_path=c.path)
    assert exc.value.step == "initiate" and "establishing CHILD_SA 'con1' failed" in str(exc.value)


def test_socket_failures_name_the_cause(tmp_path, charon):
    missing = str(tmp_path / "nope.vici")
    with pytest.raises(LocalApplyError, match="does not exist; is charon running"):
        tunnelctl.initiate_child("con1", 1, socket_path=missing)
    dead = tmp_path / "dead.vici"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(dead))
    s.close()  # the file stays, nobody listens: charon died
    with pytest.raises(LocalApplyError, match="refused the connection; charon is not running"):
        tunnelctl.terminate_ike("con1", 1, socket_path=str(dead))
    c = charon({}, silent=True)
    with pytest.raises(LocalApplyError, match="did not answer .* within"):
        tunnelctl.conn_local_ids("con1", 0.5, socket_path=c.path)
