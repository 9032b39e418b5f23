"""WAN detection, pure part: settings, public-address checks, parsers, quorum, hysteresis.

The FreeBSD ``ifconfig IF inet`` samples below were WRITTEN from FreeBSD's
``sbin/ifconfig/af_inet.c`` (``in_status``: ``\\tinet %s``, `` --> %s`` for point-to-point,
`` netmask 0x%x``, `` broadcast %s``, `` vhid %d`` for CARP), not captured on a FreeBSD
host. The Linux ones are ``ip -4 -o addr show dev IF`` output captured on the dev machine
(iproute2 6.1) and in the lab.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2s_agent.config.wan import WanSettings, parse_wan
from s2s_agent.core.errors import ConfigError, ParseError
from s2s_agent.decide.wan import (
    EchoAnswer,
    IfAddr,
    WanTracker,
    check_public,
    decide_quorum,
    parse_echo_body,
    parse_ifconfig,
    parse_ip_addr,
    pick_primary,
)

# ---- settings --------------------------------------------------------------------------


def test_parse_wan_interface_defaults():
    s = parse_wan({"source": "interface", "interface": "igb0"}, "/x.yaml")
    assert s == WanSettings(source="interface", interface="igb0")
    assert s.hold_seconds == 5.0 and s.quorum == 2 and s.allow_private is False


def test_parse_wan_http_full():
    s = parse_wan(
        {
            "source": "http",
            "interface": None,
            "http_endpoints": ["https://a.example/ip", "https://b.example/ip", "https://c/ip"],
            "quorum": 3,
            "hold_seconds": 0,
            "hold_count": 1,
            "allow_private": True,
            "poll_interval": 5,
            "http_timeout": 2,
            "ca_bundle": "/etc/ca.pem",
        }
    )
    assert s.http_endpoints == ("https://a.example/ip", "https://b.example/ip", "https://c/ip")
    assert (s.quorum, s.hold_seconds, s.hold_count, s.allow_private) == (3, 0.0, 1, True)
    assert s.ca_bundle == "/etc/ca.pem"


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"source": "interface"}, "wan.interface", "required"),
        ({"source": "dns", "interface": "igb0"}, "wan.source", "one of"),
        (
            {"source": "http", "http_endpoints": ["https://a/ip"]},
            "wan.http_endpoints",
            "at least 2",
        ),
        (
            {"source": "http", "http_endpoints": ["https://a/ip", "http://b/ip"]},
            "wan.http_endpoints[1]",
            "https://",
        ),
        (
            {"source": "http", "http_endpoints": ["https://a/ip", "https://a/ip"]},
            "wan.http_endpoints[1]",
            "duplicate",
        ),
        (
            {"source": "http", "http_endpoints": ["https://a/ip", "https://b/ip"], "quorum": 3},
            "wan.quorum",
            "only 2 endpoints",
        ),
        (
            {"source": "http", "http_endpoints": ["https://api.ipify..org/", "https://b/ip"]},
            "wan.http_endpoints[0]",
            "not a valid host name",
        ),
        (
            {"source": "http", "http_endpoints": ["https://a:99999/ip", "https://b/ip"]},
            "wan.http_endpoints[0]",
            "out of range",
        ),
        (
            {"source": "http", "http_endpoints": ["https://a b/ip", "https://b/ip"]},
            "wan.http_endpoints[0]",
            "spaces",
        ),
        (
            {"source": "http", "http_endpoints": ["https://[::1/ip", "https://b/ip"]},
            "wan.http_endpoints[0]",
            "https://",
        ),
        ({"interface": "igb0", "quorum": 1}, "wan.quorum", "between 2 and 16"),
        ({"interface": "igb0", "quorum": 2.5}, "wan.quorum", "an integer"),
        ({"interface": "igb0", "hold_seconds": -1}, "wan.hold_seconds", "between"),
        ({"interface": "igb0", "allow_private": "yes"}, "wan.allow_private", "true or false"),
        ({"interface": "igb0", "ca_bundle": "ca.pem"}, "wan.ca_bundle", "absolute"),
        ({"interface": "igb0", "hold": 5}, "wan.hold", "unknown key"),
    ],
)
def test_parse_wan_errors_name_the_key(data, key, words):
    with pytest.raises(ConfigError) as exc:
        parse_wan(data, "/etc/s2s.yaml")
    assert exc.value.key == key
    assert words in str(exc.value)
    assert str(exc.value).startswith("/etc/s2s.yaml: ")


def test_parse_wan_none_needs_interface():
    with pytest.raises(ConfigError, match="wan.interface"):
        parse_wan(None)


# ---- public address checks and echo bodies --------------------------------------------

PUBLIC = ["8.8.8.8", "1.1.1.1", "20.50.60.70", "100.63.255.255", "100.128.0.1", "223.255.255.254"]
NOT_PUBLIC = [
    "0.1.2.3",
    "10.0.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "169.254.1.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.8",
    "192.0.2.77",
    "192.168.1.1",
    "198.18.0.1",
    "198.51.100.2",
    "203.0.113.9",
    "224.0.0.1",
    "239.1.1.1",
    "240.0.0.1",
    "255.255.255.255",
]


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses_pass(ip):
    assert check_public(ip) is None
    assert parse_echo_body(f"{ip}\n".encode()) == (ip, "")


@pytest.mark.parametrize("ip", NOT_PUBLIC)
def test_non_public_addresses_refused_unless_allowed(ip):
    why = check_public(ip)
    assert why is not None and "not public" in why
    assert parse_echo_body(ip.encode())[0] is None
    assert parse_echo_body(ip.encode(), allow_private=True) == (ip, "")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"  \r\n", "empty"),
        (b"<html><body>8.8.8.8</body></html>", "single IPv4"),
        (b"8.8.8.8 9.9.9.9", "single IPv4"),
        (b"8.8.8.8\n9.9.9.9\n", "single IPv4"),
        (b'{"ip": "8.8.8.8"}', "single IPv4"),
        (b"2001:db8::1", "single IPv4"),
        (b"08.8.8.8", "not a valid"),
        (b"256.1.1.1", "not a valid"),
        (b"8.8.8", "single IPv4"),
        (b"\xff8.8.8.8", "ASCII"),
        (b"8.8.8.8" + b" " * 60, "longer than 64"),
    ],
)
def test_bad_echo_bodies_refused(body, words):
    ip, why = parse_echo_body(body)
    assert ip is None
    assert words in why


def test_echo_body_trims_whitespace():
    assert parse_echo_body(b"  20.1.2.3\r\n") == ("20.1.2.3", "")


# ---- interface parsers -----------------------------------------------------------------

LINUX_ONE = (
    "5: wan0    inet 198.51.100.2/24 scope global wan0\\       "
    "valid_lft forever preferred_lft forever\n"
)
LINUX_MOVING = (  # lab set_wan_ip: new added before the old one is deleted
    "5: wan0    inet 198.51.100.2/24 scope global wan0\\       valid_lft forever preferred_lft forever\n"
    "5: wan0    inet 198.51.100.9/24 scope global secondary wan0\\       valid_lft forever preferred_lft forever\n"
    "5: wan0    inet 192.0.2.77/24 scope global wan0\\       valid_lft forever preferred_lft forever\n"
)
LINUX_PPP = "7: ppp0    inet 100.64.1.2 peer 100.64.0.1/32 scope global ppp0\\       valid_lft forever preferred_lft forever\n"
LINUX_SECONDARY_FIRST = (
    "5: wan0    inet 10.0.0.9/24 brd 10.0.0.255 scope global secondary wan0:1\\  valid_lft forever preferred_lft forever\n"
    "5: wan0    inet 10.0.0.5/24 brd 10.0.0.255 scope global wan0\\  valid_lft forever preferred_lft forever\n"
)

FREEBSD_CARP = """\
igb0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\toptions=4e527bb<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,JUMBO_MTU,VLAN_HWCSUM,TSO4,TSO6,LRO>
\tinet 203.0.113.20 netmask 0xffffffff broadcast 203.0.113.20 vhid 1
\tinet 203.0.113.10 netmask 0xffffff00 broadcast 203.0.113.255
\tinet 203.0.113.30 netmask 0xffffffff broadcast 203.0.113.30
"""
FREEBSD_PPPOE = """\
pppoe0: flags=88d1<UP,POINTOPOINT,RUNNING,NOARP,SIMPLEX,MULTICAST> metric 0 mtu 1492
\tinet 100.64.1.2 --> 100.64.0.1 netmask 0xffffffff
"""
FREEBSD_NONE = "igb1: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n"


def test_parse_ip_addr_linux():
    assert parse_ip_addr(LINUX_ONE) == [IfAddr("198.51.100.2", 24, True)]
    moving = parse_ip_addr(LINUX_MOVING)
    assert [(a.address, a.primary) for a in moving] == [
        ("198.51.100.2", True),
        ("198.51.100.9", False),
        ("192.0.2.77", True),
    ]
    assert parse_ip_addr(LINUX_PPP) == [IfAddr("100.64.1.2", 32, True)]
    assert pick_primary(parse_ip_addr(LINUX_SECONDARY_FIRST)) == "10.0.0.5"
    assert parse_ip_addr("") == []


def test_parse_ifconfig_freebsd_skips_carp_vip():
    addrs = parse_ifconfig(FREEBSD_CARP)
    assert addrs[0] == IfAddr("203.0.113.20", 32, False, 1)
    assert addrs[1] == IfAddr("203.0.113.10", 24, True, None)
    assert pick_primary(addrs) == "203.0.113.10"
    assert parse_ifconfig(FREEBSD_PPPOE) == [IfAddr("100.64.1.2", 32, True)]
    assert parse_ifconfig(FREEBSD_NONE) == []
    assert pick_primary([]) is None


def test_pick_primary_falls_back_to_a_vip():
    assert pick_primary([IfAddr("203.0.113.20", 32, False, 1)]) == "203.0.113.20"


@pytest.mark.parametrize(
    ("fn", "text"),
    [
        (parse_ip_addr, "5: wan0    inet 198.51.100/24 scope global wan0\n"),
        (parse_ip_addr, "5: wan0    inet\n"),
        (parse_ifconfig, "\tinet 203.0.113.10 netmask zz broadcast 203.0.113.255\n"),
        (parse_ifconfig, "\tinet 203.0.113.10 broadcast 203.0.113.255\n"),
    ],
)
def test_malformed_inet_lines_raise(fn, text):
    with pytest.raises(ParseError, match="malformed inet line"):
        fn(text)


# ---- quorum ----------------------------------------------------------------------------


def ans(ep, ip=None, err=""):
    return EchoAnswer(ep, ip, err or ("" if ip else "broken"))


def test_quorum_two_honest_one_liar_accepts_majority():
    r = decide_quorum([ans("a", "20.1.1.1"), ans("b", "20.9.9.9"), ans("c", "20.1.1.1")], 2)
    assert r.ip == "20.1.1.1"
    assert r.votes == {"20.1.1.1": 2, "20.9.9.9": 1}


def test_quorum_one_liar_cannot_move_two_of_two():
    r = decide_quorum([ans("a", "20.1.1.1"), ans("b", "20.9.9.9")], 2)
    assert r.ip is None and "no quorum" in r.reason and "20.9.9.9" in r.reason


def test_quorum_tie_is_no_decision_even_when_each_side_has_quorum():
    answers = [
        ans("a", "20.1.1.1"),
        ans("b", "20.1.1.1"),
        ans("c", "20.9.9.9"),
        ans("d", "20.9.9.9"),
    ]
    r = decide_quorum(answers, 2)
    assert r.ip is None and "disagree" in r.reason


def test_quorum_broken_endpoints_do_not_count_but_are_reported():
    r = decide_quorum([ans("a", "20.1.1.1"), ans("b", err="HTTP 500"), ans("c", "20.1.1.1")], 2)
    assert r.ip == "20.1.1.1" and "b: HTTP 500" in r.reason
    r = decide_quorum([ans("a", "20.1.1.1"), ans("b", err="timed out")], 2)
    assert r.ip is None and "b: timed out" in r.reason


def test_quorum_nothing_usable():
    r = decide_quorum([ans("a", err="HTTP 500"), ans("b", err="empty body")], 2)
    assert r.ip is None and "no endpoint gave a usable answer" in r.reason


IPS = st.sampled_from(["20.1.1.1", "20.2.2.2", "20.3.3.3", None])


@given(st.lists(IPS, min_size=1, max_size=7), st.integers(2, 4))
def test_quorum_property_never_a_minority_or_under_quorum(ips, quorum):
    r = decide_quorum([ans(str(i), ip) for i, ip in enumerate(ips)], quorum)
    valid = [ip for ip in ips if ip]
    if r.ip is not None:
        n = valid.count(r.ip)
        assert n >= quorum and n * 2 > len(valid)
    else:  # no decision only when no address had a quorum majority
        assert all(valid.count(ip) < quorum or valid.count(ip) * 2 <= len(valid) for ip in valid)


# ---- hysteresis ------------------------------------------------------------------------

A, B, C = "20.1.1.1", "20.2.2.2", "20.3.3.3"


def test_first_ip_adopted_without_firing():
    t = WanTracker(5, 2)
    d = t.observe(A, 0)
    assert (d.current, d.changed) == (A, False)


def test_change_fires_once_after_hold_time_and_count():
    t = WanTracker(5, 2, previous=A)
    assert t.observe(B, 0).changed is False  # seen 1
    assert t.observe(B, 4).changed is False  # seen 2 but held 4 s
    d = t.observe(B, 5)
    assert d.changed and d.current == B and d.old == A and d.candidate is None
    assert t.observe(B, 6).changed is False


def test_hold_count_needed_even_when_time_passed():
    t = WanTracker(1, 3, previous=A)
    t.observe(B, 0)
    assert t.observe(B, 100).changed is False
    assert t.observe(B, 101).changed is True


def test_flapping_back_cancels():
    t = WanTracker(5, 1, previous=A)
    assert t.observe(B, 0).candidate == B
    d = t.observe(A, 3)
    assert d.candidate is None and "cancelled" in d.reason
    assert t.observe(B, 6).changed is False  # the hold restarts at 6
    assert t.observe(B, 11).changed is True


def test_none_neither_confirms_nor_cancels():
    t = WanTracker(5, 2, previous=A)
    t.observe(B, 0)
    d = t.observe(None, 6)
    assert (d.current, d.candidate, d.changed) == (A, B, False)
    assert t.observe(B, 7).changed is True


def test_third_ip_restarts_the_hold():
    t = WanTracker(5, 1, previous=A)
    t.observe(B, 0)
    assert t.observe(C, 4).candidate == C
    assert t.observe(C, 8).changed is False
    assert t.observe(C, 9).current == C


def test_previous_differing_at_startup_fires_after_hold():
    t = WanTracker(0, 1, previous=A)
    d = t.observe(B, 0)
    assert d.changed and d.old == A


def test_previous_equal_at_startup_is_quiet():
    t = WanTracker(0, 1, previous=A)
    assert t.observe(A, 0).changed is False


def test_zero_hold_fires_immediately_and_invalid_args_refused():
    t = WanTracker(0, 1)
    t.observe(A, 0)
    assert t.observe(B, 0).changed
    with pytest.raises(ValueError):
        WanTracker(-1)
    with pytest.raises(ValueError):
        WanTracker(1, 0)


OBS = st.lists(
    st.tuples(st.sampled_from([A, B, C, None]), st.floats(0, 10, allow_nan=False)),
    max_size=40,
)


@settings(max_examples=300)
@given(OBS, st.floats(0, 20, allow_nan=False), st.integers(1, 4), st.sampled_from([A, None]))
def test_tracker_properties(steps, hold, count, previous):
    t = WanTracker(hold, count, previous=previous)
    now, seq, fires, current = 0.0, [], 0, previous
    for ip, dt in steps:
        now += dt
        seq.append((ip, now))
        d = t.observe(ip, now)
        if d.changed:
            fires += 1
            # fires only for the IP just observed, which was seen >= count times in a row
            # (Nones skipped) over >= hold seconds, with no other IP in between
            assert d.current == ip and d.old == current and ip != current
            row = [(o, w) for o, w in seq if o is not None]
            tail = []
            for o, w in reversed(row):
                if o != ip:
                    break
                tail.append(w)
            assert len(tail) >= count and tail[0] - tail[-1] >= hold
        elif ip is not None and current is not None:
            assert d.current == current  # no silent change
        current = d.current
    # never more changes than IP runs that were stable long enough
    stable = sum(1 for _ in _stable_runs(seq, hold, count))
    assert fires <= stable


def _stable_runs(seq, hold, count):
    ip, start, n, counted = None, 0.0, 0, False
    for obs, now in seq:
        if obs is None:
            continue
        if obs != ip:
            ip, start, n, counted = obs, now, 0, False
        n += 1
        if not counted and n >= count and now - start >= hold:
            counted = True
            yield ip


@given(st.integers(2, 30), st.floats(0.01, 4.99))
def test_fast_flapping_never_fires(n, step):
    t = WanTracker(5, 1, previous=A)
    now = 0.0
    for i in range(n):
        now += step
        # every B is followed by A within < hold: the pending change is always cancelled
        assert t.observe(B if i % 2 == 0 else A, now).changed is False
    assert t.current == A
