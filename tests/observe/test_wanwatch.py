"""WAN detection, I/O part: interface lookup, address-change events, HTTPS echo endpoints.

* Interface lookup: with a replaying runner (Linux + FreeBSD argv) and, as root, for real in
  a network namespace this test creates.
* Netlink events: real. A helper process started with ``ip netns exec`` opens the event
  socket with ``AddressEvents.open`` inside a fresh namespace and hands the fd back over
  SCM_RIGHTS; addresses added/removed there must wake it.
* PF_ROUTE: the messages are bytes CONSTRUCTED here from FreeBSD's ``struct ifa_msghdr``
  (``net/if.h``) and the sockaddr packing of ``net/route.h`` (``SA_SIZE``: rounded to
  sizeof(long)), not captured on FreeBSD; fed through a socketpair to exercise ``drain``.
* HTTP: local HTTPS servers (trustme CA, 127.0.0.1) playing honest, lying, garbage, slow,
  500 and redirecting endpoints.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import ssl
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme

from s2s_agent.config.wan import WanSettings
from s2s_agent.core import osio
from s2s_agent.core.errors import CommandError
from s2s_agent.observe import wanwatch
from s2s_agent.observe.wanwatch import (
    AddressEvents,
    AddrEvent,
    decode_netlink,
    decode_route,
    http_wan_ip,
    interface_addresses,
    interface_wan_ip,
    query_endpoints,
    read_wan_ip,
)
from tests.helpers.netns_events import events_in_netns

# ---- interface lookup with a replaying runner -----------------------------------------


def replay(stdout: str, *, fail: str | None = None):
    calls = []

    def runner(argv, *, timeout, ok_codes=(0,)):
        calls.append(list(argv))
        if fail:
            raise CommandError(argv, fail, returncode=1)
        return osio.Result(tuple(argv), 0, stdout, "")

    runner.calls = calls
    return runner


def test_interface_linux_argv_and_primary():
    r = replay("5: wan0    inet 20.1.2.3/24 scope global wan0\\  valid_lft forever\n")
    assert interface_wan_ip("wan0", run=r, system="linux") == ("20.1.2.3", "")
    assert r.calls == [["ip", "-4", "-o", "addr", "show", "dev", "wan0"]]


def test_interface_freebsd_argv_skips_vip():
    out = (
        "igb0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n"
        "\tinet 20.1.2.9 netmask 0xffffffff broadcast 20.1.2.9 vhid 3\n"
        "\tinet 20.1.2.3 netmask 0xffffff00 broadcast 20.1.2.255\n"
    )
    r = replay(out)
    assert interface_wan_ip("igb0", run=r, system="freebsd14") == ("20.1.2.3", "")
    assert r.calls == [["ifconfig", "igb0", "inet"]]


def test_interface_private_needs_allow_private():
    r = replay("5: wan0    inet 192.168.1.5/24 scope global wan0\n")
    ip, why = interface_wan_ip("wan0", run=r, system="linux")
    assert ip is None and "not public" in why and "source: http" in why
    assert interface_wan_ip("wan0", run=r, system="linux", allow_private=True)[0] == "192.168.1.5"


def test_interface_missing_or_empty():
    ip, why = interface_wan_ip("nope0", run=replay("", fail="Device does not exist"))
    assert ip is None and "cannot read the address of nope0" in why
    ip, why = interface_wan_ip("wan0", run=replay(""), system="linux")
    assert ip is None and "no IPv4 address" in why


def test_read_wan_ip_dispatches_to_interface():
    s = WanSettings(source="interface", interface="wan0", allow_private=True)
    r = replay("5: wan0    inet 192.0.2.77/24 scope global wan0\n")
    assert read_wan_ip(s, run=r) == ("192.0.2.77", "")


# ---- netlink decoding ------------------------------------------------------------------


def nl_addr(mtype, index, addr, label, family=socket.AF_INET):
    def attr(t, v):
        raw = struct.pack("=HH", 4 + len(v), t) + v
        return raw + b"\0" * (-len(raw) % 4)

    body = struct.pack("=BBBBI", family, 24, 0, 0, index)
    body += attr(2, socket.inet_aton(addr)) + attr(1, socket.inet_aton(addr))
    body += attr(3, label.encode() + b"\0")
    return struct.pack("=IHHII", 16 + len(body), mtype, 0, 0, 0) + body


def test_decode_netlink_constructed():
    data = nl_addr(20, 5, "20.1.2.3", "wan0") + nl_addr(21, 5, "20.1.2.4", "wan0:1")
    data += struct.pack("=IHHII", 16, 3, 0, 0, 0)  # NLMSG_DONE: skipped
    assert decode_netlink(data) == [
        AddrEvent("new", 5, "wan0", "20.1.2.3"),
        AddrEvent("del", 5, "wan0:1", "20.1.2.4"),
    ]
    assert decode_netlink(data[:10]) == []  # truncated header
    assert decode_netlink(nl_addr(20, 5, "20.1.2.3", "wan0")[:-4]) == []  # truncated message


# ---- PF_ROUTE decoding (bytes constructed from FreeBSD's headers) ---------------------


def sa_in(addr):
    return struct.pack("=BBH4s8x", 16, 2, 0, socket.inet_aton(addr))


def sa_dl(index, name):
    raw = struct.pack("=BBHBBBB", 0, 18, index, 6, len(name), 6, 0) + name.encode() + b"\0" * 6
    raw = bytes([len(raw)]) + raw[1:]
    return raw + b"\0" * (-len(raw) % 8)


def fb_newaddr(mtype, index, name, addr):
    # RTA_NETMASK | RTA_IFP | RTA_IFA | RTA_BRD, in bit order (rt_xaddrs of route.c)
    addrs = 0x4 | 0x10 | 0x20 | 0x80
    sas = sa_in("255.255.255.0") + sa_dl(index, name) + sa_in(addr) + sa_in("20.1.2.255")
    hdr = struct.pack("=HBBiiHHi", 20 + len(sas), 5, mtype, addrs, 0, index, 0, 0)
    return hdr + sas


def test_decode_route_constructed():
    data = fb_newaddr(0xC, 1, "igb0", "20.1.2.3") + fb_newaddr(0xD, 2, "igb1", "20.9.9.9")
    data += struct.pack("=HBB", 4, 5, 0xE) + b""  # a 4-byte unknown message: skipped
    assert decode_route(data) == [
        AddrEvent("new", 1, "igb0", "20.1.2.3"),
        AddrEvent("del", 2, "igb1", "20.9.9.9"),
    ]
    wrong_version = bytearray(fb_newaddr(0xC, 1, "igb0", "20.1.2.3"))
    wrong_version[2] = 4
    assert decode_route(bytes(wrong_version)) == []


def test_route_events_drain_filters_by_interface():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    ev = AddressEvents(a, "igb0", "route")
    try:
        assert ev.drain() is False  # nothing pending, does not block
        b.send(fb_newaddr(0xC, 2, "igb1", "20.9.9.9"))
        assert ev.drain() is False and ev.last[0].ifname == "igb1"
        b.send(fb_newaddr(0xC, 2, "igb1", "20.9.9.9"))
        b.send(fb_newaddr(0xD, 1, "igb0", "20.1.2.3"))
        assert ev.drain() is True
        assert ev.drain() is False  # drained
    finally:
        ev.close()
        b.close()


def test_events_match_alias_label_and_any():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        ev = AddressEvents(a, "wan0", "netlink")
        assert ev.matches(AddrEvent("new", 9, "wan0:1", None))
        assert not ev.matches(AddrEvent("new", 9, "wan01", None))
        assert AddressEvents(a, None, "netlink").matches(AddrEvent("new", 9, "x", None))
        with pytest.raises(ValueError):
            AddressEvents(a, None, "kqueue")


def test_open_refuses_unknown_platform():
    with pytest.raises(OSError, match="no address-event socket"):
        AddressEvents.open("wan0", system="sunos5")


# ---- real netlink in a namespace of our own -------------------------------------------

NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or not sys.platform.startswith("linux"),
    reason="needs root, Linux and iproute2 (network namespaces)",
)


def wait_readable(ev: AddressEvents, timeout: float) -> bool:
    return bool(select.select([ev], [], [], timeout)[0])


@pytest.fixture
def netns():
    name = f"s2sw{os.getpid()}-{uuid.uuid4().hex[:6]}"
    osio.run(["ip", "netns", "add", name])
    try:
        for argv in (
            ["link", "set", "lo", "up"],
            ["link", "add", "wt0", "type", "bridge"],
            ["link", "add", "wt1", "type", "bridge"],
            ["link", "set", "wt0", "up"],
            ["link", "set", "wt1", "up"],
        ):
            osio.run(["ip", "-n", name, *argv])
        yield name
    finally:
        osio.run(["ip", "netns", "del", name], ok_codes=(0, 1))


@NEEDS_ROOT
def test_netlink_events_real_in_netns(netns):
    ev = events_in_netns(["ip", "netns", "exec", netns], "wt0")
    try:
        assert ev.drain() is False
        osio.run(["ip", "-n", netns, "addr", "add", "20.7.7.7/24", "dev", "wt1"])
        # the other interface's event arrives but does not count
        assert wait_readable(ev, 5)
        assert ev.drain() is False and ev.last[0].ifname == "wt1"
        osio.run(["ip", "-n", netns, "addr", "add", "20.1.2.3/24", "dev", "wt0"])
        assert wait_readable(ev, 5), "no netlink event for a new address"
        assert ev.drain() is True
        assert AddrEvent("new", ev.last[0].ifindex, "wt0", "20.1.2.3") in ev.last
        osio.run(["ip", "-n", netns, "addr", "del", "20.1.2.3/24", "dev", "wt0"])
        assert wait_readable(ev, 5)
        assert ev.drain() is True and ev.last[0].kind == "del"
    finally:
        ev.close()


@NEEDS_ROOT
def test_interface_lookup_real_in_netns(netns):
    def runner(argv, **kw):
        return osio.run(["ip", "netns", "exec", netns, *argv], **kw)

    assert interface_wan_ip("wt0", run=runner, system="linux")[1].endswith("no IPv4 address")
    osio.run(["ip", "-n", netns, "addr", "add", "20.1.2.3/24", "dev", "wt0"])
    osio.run(["ip", "-n", netns, "addr", "add", "20.1.2.9/24", "dev", "wt0"])  # secondary
    addrs = interface_addresses("wt0", run=runner, system="linux")
    assert [(a.address, a.primary) for a in addrs] == [("20.1.2.3", True), ("20.1.2.9", False)]
    assert interface_wan_ip("wt0", run=runner, system="linux") == ("20.1.2.3", "")
    ip, why = interface_wan_ip("nope0", run=runner, system="linux")
    assert ip is None and "nope0" in why


# ---- HTTPS echo endpoints --------------------------------------------------------------

ROUTES: dict[str, tuple[int, bytes, dict[str, str]]] = {
    "/honest": (200, b"20.1.2.3\n", {}),
    "/honest2": (200, b"20.1.2.3", {}),
    "/honest3": (200, b"  20.1.2.3\r\n", {}),
    "/liar": (200, b"20.6.6.6\n", {}),
    "/liar2": (200, b"20.6.6.6\n", {}),
    "/private": (200, b"192.168.1.10\n", {}),
    "/html": (200, b"<html><body>Your IP is 20.1.2.3</body></html>", {}),
    "/two": (200, b"20.1.2.3 20.1.2.4\n", {}),
    "/ipv6": (200, b"2001:db8::5\n", {}),
    "/error": (500, b"20.1.2.3\n", {}),
    "/redirect": (302, b"", {"Location": "http://127.0.0.1:1/honest"}),
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        if self.path == "/slow":
            self.server.release.wait(5)
            return self._send(200, b"20.1.2.3\n", {})
        if self.path == "/trickle":  # headers one byte at a time: no socket timeout ever trips
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            try:
                while not self.server.release.wait(0.2):
                    self.wfile.write(b"X")
                    self.wfile.flush()
            except OSError:
                self.server.trickle_cut.set()  # the client shut its connection down
            return None
        if self.path == "/huge":  # no Content-Length, chunked, endless
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:  # endless: only a reader that stops at 64 bytes answers before its timeout
                while not self.server.release.wait(0.05):
                    self.wfile.write(b"40\r\n" + b"2" * 64 + b"\r\n")
                    self.wfile.flush()
            except OSError:
                pass
            return None
        if self.path == "/biglen":
            return self._send(200, b"20.1.2.3" + b" " * 100, {})
        return self._send(*ROUTES.get(self.path, (404, b"", {})))

    def _send(self, code, body, headers):
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients abort on purpose (TLS, huge)
        pass


SERVERS: dict[str, QuietServer] = {}


def echo_server(base: str) -> QuietServer:
    return SERVERS[base]


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_path = tmp_path_factory.mktemp("echo") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    server = QuietServer(("127.0.0.1", 0), Handler)
    server.release = threading.Event()
    server.trickle_cut = threading.Event()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"https://127.0.0.1:{server.server_address[1]}"
    SERVERS[base] = server
    try:
        yield base, str(ca_path)
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def ask(echo, *paths, timeout=3.0, allow_private=False, verify=None):
    base, ca = echo
    return query_endpoints(
        [base + p for p in paths],
        timeout=timeout,
        verify=ca if verify is None else verify,
        allow_private=allow_private,
    )


def test_https_honest_answers(echo):
    answers = ask(echo, "/honest", "/honest2", "/honest3")
    assert [a.ip for a in answers] == ["20.1.2.3"] * 3
    assert all(a.error == "" for a in answers)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/private", "not public"),
        ("/html", "single IPv4"),
        ("/two", "single IPv4"),
        ("/ipv6", "single IPv4"),
        ("/error", "HTTP 500"),
        ("/redirect", "HTTP 302"),
        ("/huge", "longer than 64"),
        ("/biglen", "longer than 64"),
        ("/missing", "HTTP 404"),
    ],
)
def test_https_broken_endpoints_refused(echo, path, words):
    (a,) = ask(echo, path)
    assert a.ip is None and words in a.error


def test_https_private_allowed_in_labs(echo):
    assert ask(echo, "/private", allow_private=True)[0].ip == "192.168.1.10"


def test_https_untrusted_certificate_refused(echo):
    (a,) = ask(echo, "/honest", verify=True)  # the system store does not know the trustme CA
    assert a.ip is None and "TLS" in a.error


def test_https_slow_endpoint_times_out_others_still_count(echo):
    base, ca = echo
    s = WanSettings(
        source="http",
        http_endpoints=(base + "/honest", base + "/slow", base + "/honest2"),
        http_timeout=0.5,
        ca_bundle=ca,
    )
    r = http_wan_ip(s)
    assert r.ip == "20.1.2.3"
    assert "/slow: timed out" in r.reason


def test_https_trickling_endpoint_is_cut_at_the_quorum_deadline(echo):
    t0 = time.monotonic()
    answers = ask(echo, "/honest", "/trickle", timeout=1.0)
    took = time.monotonic() - t0
    assert answers[0].ip == "20.1.2.3"
    assert answers[1].ip is None and "timed out" in answers[1].error
    assert took < 1.0 + wanwatch.QUORUM_GRACE + 1.5, took  # old code: until the server stops
    base, _ca = echo
    server_cut = answers and echo_server(base).trickle_cut.wait(5)
    assert server_cut, "the trickling connection was left open (a thread and an fd per poll)"


def test_https_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    (a,) = query_endpoints([f"https://127.0.0.1:{port}/ip"], timeout=1)
    assert a.ip is None and "request failed" in a.error


def test_unparsable_endpoint_url_is_one_bad_answer_not_a_crash(echo):
    """urllib3's LocationParseError is no RequestException: it must not escape the tick."""
    base, ca = echo
    s = WanSettings(
        source="http",
        http_endpoints=("https://api.ipify..org/", base + "/honest", base + "/honest2"),
        ca_bundle=ca,
        allow_private=True,
    )
    r = http_wan_ip(s)
    assert r.ip is not None
    assert "api.ipify..org/: request failed: LocationParseError" in r.reason


def quorum_settings(echo, *paths, quorum=2):
    base, ca = echo
    return WanSettings(
        source="http", http_endpoints=tuple(base + p for p in paths), quorum=quorum, ca_bundle=ca
    )


def test_quorum_liar_never_moves_the_result(echo):
    assert http_wan_ip(quorum_settings(echo, "/honest", "/liar", "/honest2")).ip == "20.1.2.3"
    r = http_wan_ip(quorum_settings(echo, "/honest", "/liar"))
    assert r.ip is None and "no quorum" in r.reason
    r = http_wan_ip(quorum_settings(echo, "/honest", "/honest2", "/liar", "/liar2"))
    assert r.ip is None and "disagree" in r.reason


def test_quorum_garbage_and_errors_do_not_count(echo):
    s = quorum_settings(echo, "/honest", "/html", "/error", "/private", "/honest3")
    assert read_wan_ip(s) == ("20.1.2.3", "")
    s = quorum_settings(echo, "/honest", "/html", "/error")
    ip, why = read_wan_ip(s)
    assert ip is None and "no quorum" in why and "HTTP 500" in why
