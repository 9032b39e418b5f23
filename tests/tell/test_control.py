import json
import os
import selectors
import socket
import stat
import threading
import time

import pytest

from s2s_agent.core.errors import ControlError
from s2s_agent.tell import control

server_paused = threading.Event()


@pytest.fixture
def server(tmp_path):
    server_paused.clear()
    path = str(tmp_path / "ctl.sock")
    sel = selectors.DefaultSelector()
    srv = control.ControlServer(
        path, {"status": lambda r: {"tunnels": [1, 2]}, "boom": lambda r: 1 / 0}, sel
    )
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            if server_paused.is_set():
                time.sleep(0.01)
                continue
            for key, mask in sel.select(0.05):
                key.data(mask)
            srv.sweep()

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


# ---- no request can hurt the server -----------------------------------------------------


def test_deeply_nested_json_is_a_bad_request_not_a_crash(server):
    r = raw(server.path, b"[" * 100000 + b"\n")
    assert r["ok"] is False and "nested too deeply" in r["error"]
    r = raw(server.path, b'{"a":' * 10000 + b"\n")
    assert r["ok"] is False and "bad request" in r["error"]
    assert control.request(server.path, "status") == {"tunnels": [1, 2]}


@pytest.mark.parametrize("version", ["true", "1.0", '"1"', "null"])
def test_version_must_be_the_integer_1(server, version):
    r = raw(server.path, b'{"version": %s, "command": "status"}\n' % version.encode())
    assert r["ok"] is False and "protocol version" in r["error"]


def test_odd_commands_and_unencodable_replies(server):
    server.handlers["odd"] = lambda r: {"x": object()}
    r = raw(server.path, b'{"version": 1, "command": ["status"]}\n')
    assert r["ok"] is False and "unknown command" in r["error"]
    r = raw(server.path, b'{"version": 1, "command": "odd"}\n')
    assert r["ok"] is False and "internal error" in r["error"]


def test_idle_clients_time_out(server, monkeypatch):
    monkeypatch.setattr(control, "CLIENT_TIMEOUT", 0.3)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(server.path)
    s.sendall(b'{"version": 1, ')  # and then nothing
    t0 = time.monotonic()
    assert s.recv(100) == b""  # the server hung up
    assert time.monotonic() - t0 < 4
    s.close()
    assert not server._clients
    assert control.request(server.path, "status")


def test_a_client_that_never_reads_does_not_block_the_server(server, monkeypatch):
    monkeypatch.setattr(control, "CLIENT_TIMEOUT", 0.5)
    server.handlers["big"] = lambda r: {"blob": "x" * 4_000_000}
    s = socket.socket(socket.AF_UNIX)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(server.path)
    s.sendall(b'{"version": 1, "command": "big"}\n')  # never reads the 4 MB reply
    t0 = time.monotonic()
    assert control.request(server.path, "status", timeout=2) == {"tunnels": [1, 2]}
    assert time.monotonic() - t0 < 1
    s.close()


def test_backlog_holds_32_clients_while_the_daemon_is_busy(server):
    server_paused.set()  # the daemon is in the middle of something
    time.sleep(0.1)
    clients = []
    try:
        for _ in range(32):
            c = socket.socket(socket.AF_UNIX)
            c.setblocking(False)  # like FreeBSD: a full backlog refuses at once
            c.connect(server.path)  # BlockingIOError on Linux when the backlog is full
            clients.append(c)
    finally:
        server_paused.clear()
        for c in clients:
            c.close()
    results = []

    def ask():
        results.append(control.request(server.path, "status", timeout=5))

    threads = [threading.Thread(target=ask) for _ in range(32)]
    server_paused.set()
    for th in threads:
        th.start()
    time.sleep(0.3)
    server_paused.clear()
    for th in threads:
        th.join(10)
    assert results == [{"tunnels": [1, 2]}] * 32


def test_overlong_socket_path_is_named(tmp_path):
    path = str(tmp_path / ("x" * 120))
    with pytest.raises(ControlError) as ei:
        control.ControlServer(path, {}, selectors.DefaultSelector())
    assert "None" not in str(ei.value) and "agent.control_socket" in str(ei.value)


EMFILE_SERVER = """
import resource, selectors, sys, time
from s2s_agent.tell import control
control.CLIENT_TIMEOUT = 1.0
sel = selectors.DefaultSelector()
srv = control.ControlServer(sys.argv[1], {"status": lambda r: {"ok": 1}}, sel)
resource.setrlimit(resource.RLIMIT_NOFILE, (24, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
print("ready", flush=True)
end = time.monotonic() + 20
while time.monotonic() < end:
    for key, mask in sel.select(0.05):
        key.data(mask)
    srv.sweep()
"""


def test_accept_loop_survives_running_out_of_file_descriptors(tmp_path):
    import subprocess
    import sys

    path = str(tmp_path / "ctl.sock")
    proc = subprocess.Popen(
        [sys.executable, "-c", EMFILE_SERVER, path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        hogs = []
        for _ in range(40):  # idle clients: far more than the server has descriptors for
            c = socket.socket(socket.AF_UNIX)
            c.settimeout(5)
            c.connect(path)
            hogs.append(c)
        time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read()
        for c in hogs:
            c.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                assert control.request(path, "status", timeout=2) == {"ok": 1}
                break
            except ControlError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
