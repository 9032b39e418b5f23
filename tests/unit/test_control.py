import json
import os
import selectors
import socket
import stat
import threading

import pytest

from s2s_agent import control
from s2s_agent.errors import ControlError


@pytest.fixture
def server(tmp_path):
    path = str(tmp_path / "ctl.sock")
    sel = selectors.DefaultSelector()
    srv = control.ControlServer(path, {"status": lambda r: {"tunnels": [1, 2]},
                                       "boom": lambda r: 1 / 0}, sel)
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            for key, mask in sel.select(0.05):
                key.data(mask)

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    yield srv
    stop.set()
    th.join()
    srv.close()


def test_round_trip_and_mode(server):
    assert control.request(server.path, "status") == {"tunnels": [1, 2]}
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600


def test_errors_are_replies_not_crashes(server):
    with pytest.raises(ControlError, match="unknown command 'nope'"):
        control.request(server.path, "nope")
    with pytest.raises(ControlError, match="internal error"):
        control.request(server.path, "boom")
    # the server still answers after those
    assert control.request(server.path, "status")


def raw(path, payload: bytes) -> dict:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(3)
    s.connect(path)
    s.sendall(payload)
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)


def test_bad_requests(server):
    assert "bad request" in raw(server.path, b"\xff\xfe garbage\n")["error"]
    assert "bad request" in raw(server.path, b"[1,2]\n")["error"]
    r = raw(server.path, b'{"version": 99, "command": "status"}\n')
    assert r["ok"] is False and "protocol version" in r["error"]


def test_client_when_nobody_listens(tmp_path):
    with pytest.raises(ControlError, match="not running"):
        control.request(str(tmp_path / "none.sock"), "status")


def test_stale_socket_is_replaced_and_live_one_refused(tmp_path, server):
    with pytest.raises(ControlError, match="already listening"):
        control.ControlServer(server.path, {}, selectors.DefaultSelector())
    stale = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(stale)
    s.close()  # a socket file nobody listens on
    sel = selectors.DefaultSelector()
    srv = control.ControlServer(stale, {}, sel)
    srv.close()
    assert not os.path.exists(stale)
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(ControlError, match="not a socket"):
        control.ControlServer(str(plain), {}, selectors.DefaultSelector())
