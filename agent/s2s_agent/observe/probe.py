"""In-tunnel ping probe: build the ping command, run it, parse its summary.

FreeBSD 14 ``ping(8)`` (pfSense) and Linux iputils ``ping`` (the lab) are supported.
:func:`parse_ping` is pure and understands both summaries::

    FreeBSD: 3 packets transmitted, 3 packets received, 0.0% packet loss
             [, +N duplicates] [, N packets out of wait time]
             round-trip min/avg/max/stddev = 0.043/0.052/0.061/0.008 ms
             (IPv6: "round-trip min/avg/max/std-dev = ...")
    Linux:   3 packets transmitted, 3 received, [+N duplicates, ] [+N errors, ]
             0% packet loss, time 2003ms
             rtt min/avg/max/mdev = 0.042/0.107/0.236/0.090 ms

:class:`ProbeResult` schema (``to_dict``)::

    {"target": str|null, "source": str|null, "sent": int, "received": int,
     "loss": float 0.0..1.0, "rtt_min": float|null, "rtt_avg": float|null,
     "rtt_max": float|null (milliseconds), "icmp_errors": int,
     "error": str|null, "detail": str|null, "time": float|null (epoch seconds)}

``loss`` is computed from the counters (``1 - received/sent``; 1.0 when nothing was
sent). ``error`` is set only when the probe could not measure: command missing, bad
argument, source address not on the host, nothing sent, killed after hanging ("ping timed
out"), output not understood. When ping did measure but saw trouble on the path, the
counters tell the story and ``detail`` says what ping said: the first ICMP error (``From
10.9.9.1 icmp_seq=1 Destination Host Unreachable``) or its last stderr line (``ping:
sendto: No route to host``) -- that is a dead path, not a broken probe. Exit statuses are
not trusted for the verdict: FreeBSD exits 2 and iputils 1 when no reply came.
"""

from __future__ import annotations

import logging
import math
import platform
import re
import time as _time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from ..core import osio
from ..core.errors import CommandError

log = logging.getLogger(__name__)

HANG_MARGIN = 5.0
"""Seconds the runner waits beyond ping's own deadline before killing it."""

_SUMMARY = re.compile(
    r"^(?P<sent>\d+) packets transmitted, (?P<recv>\d+) (?:packets )?received"
    r"(?P<rest>[^\n]*)$",
    re.M,
)
_ERRORS = re.compile(r"\+(\d+) errors")
_RTT = re.compile(
    r"^(?:rtt|round-trip) min/avg/max(?:/(?:mdev|stddev|std-dev))? = "
    r"(?P<min>[\d.]+)/(?P<avg>[\d.]+)/(?P<max>[\d.]+)(?:/[\d.]+)? ms",
    re.M,
)
# Linux: "From 10.9.9.1 icmp_seq=1 Destination Host Unreachable";
# FreeBSD: "92 bytes from 10.1.10.1: Destination Host Unreachable"
_ICMP_ERROR = re.compile(r"^(?:From \S+ icmp_seq=\d+ .+|\d+ bytes from \S+: (?!icmp_seq).+)$", re.M)


@dataclass(frozen=True)
class ProbeResult:
    """One probe run; see the module docstring for the meaning of each field."""

    target: str | None
    source: str | None
    sent: int = 0
    received: int = 0
    loss: float = 1.0
    rtt_min: float | None = None
    rtt_avg: float | None = None
    rtt_max: float | None = None
    error: str | None = None
    time: float | None = field(default_factory=_time.time)
    icmp_errors: int = 0
    detail: str | None = None

    @property
    def ok(self) -> bool:
        """At least one reply came back."""
        return self.received > 0

    def to_dict(self) -> dict:
        return asdict(self)


def _check_addr(kind: str, value: str) -> str:
    value = str(value)
    if not value or value.startswith("-") or any(c.isspace() or c == "\0" for c in value):
        raise ValueError(f"probe {kind} {value!r} is not an address or host name")
    return value


def deadline_seconds(count: int, timeout: float) -> int:
    """Whole seconds ping may run: one second between packets, ``timeout`` for the last."""
    return max(1, math.ceil((count - 1) + timeout))


def build_ping_argv(
    system: str, source: str | None, target: str, count: int, timeout: float
) -> list[str]:
    """The ping command for ``system`` (``platform.system()``: FreeBSD, Linux, Darwin).

    FreeBSD 14: ``ping -n -c N [-S src] -t <deadline s> -W <wait ms> target`` (``-t`` ends
    ping after that many seconds whatever happened, ``-W`` is the wait for each reply in
    milliseconds). Linux iputils: ``ping -n -c N [-I src] -W <wait s> -w <deadline s>
    target``. ``-n``: never resolve names (a DNS timeout would look like a dead tunnel).
    Raises ValueError for a count/timeout out of range or a value that looks like an option.
    """
    if count < 1 or count > 100:
        raise ValueError(f"probe count must be 1..100, not {count}")
    if not timeout > 0 or timeout > 60:
        raise ValueError(f"probe timeout must be >0 and <=60 seconds, not {timeout}")
    target = _check_addr("target", target)
    src = _check_addr("source", source) if source else None
    deadline = deadline_seconds(count, timeout)
    if system == "Linux":
        argv = ["ping", "-n", "-c", str(count)]
        if src:
            argv += ["-I", src]
        argv += ["-W", str(max(1, math.ceil(timeout))), "-w", str(deadline)]
    elif system in ("FreeBSD", "Darwin"):
        argv = ["ping", "-n", "-c", str(count)]
        if src:
            argv += ["-S", src]
        argv += ["-t", str(deadline), "-W", str(max(1, round(timeout * 1000)))]
    else:
        raise ValueError(f"no ping command known for {system!r} (supported: FreeBSD, Linux)")
    return argv + [target]


def parse_ping(
    text: str, *, source: str | None = None, target: str | None = None, time: float | None = None
) -> ProbeResult:
    """Parse ping's stdout (pure). Without a summary line the result carries an error."""
    m = _SUMMARY.search(text)
    icmp = _ICMP_ERROR.findall(text)
    first_icmp = icmp[0].strip() if icmp else None
    if m is None:
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        why = f"no ping summary in output: {first[:120]!r}" if first else "ping printed nothing"
        return ProbeResult(target, source, 0, 0, 1.0, error=why, time=time, icmp_errors=len(icmp))
    sent, recv = int(m["sent"]), int(m["recv"])
    errs = _ERRORS.search(m["rest"])
    n_err = int(errs.group(1)) if errs else len(icmp)
    loss = 1.0 if sent <= 0 else min(1.0, max(0.0, 1.0 - recv / sent))
    r = _RTT.search(text, m.end())
    rtt = (float(r["min"]), float(r["avg"]), float(r["max"])) if r and recv > 0 else (None,) * 3
    detail = (first_icmp or f"{n_err} ICMP errors") if n_err else None
    if sent == 0:
        return ProbeResult(
            target,
            source,
            0,
            recv,
            1.0,
            *rtt,
            error="ping sent nothing",
            time=time,
            icmp_errors=n_err,
            detail=detail,
        )
    return ProbeResult(
        target, source, sent, recv, loss, *rtt, time=time, icmp_errors=n_err, detail=detail
    )


Runner = Callable[..., osio.Result]


def run_probe(
    source: str | None,
    target: str,
    count: int = 3,
    timeout: float = 2.0,
    *,
    system: str | None = None,
    runner: Runner = osio.run,
) -> ProbeResult:
    """Ping ``target`` from ``source`` and return the result; never raises for ping trouble.

    No reply (exit 1 on Linux, 2 on FreeBSD), ICMP errors and send errors are measurements
    (``detail`` says what ping reported), not errors. A ping that outlives its own
    deadline by :data:`HANG_MARGIN` is killed: loss 1.0, error ``"ping timed out"``. A
    missing binary, a bind failure or unparsable output gives the reason in ``error``.
    """
    started = _time.time()
    system = system or platform.system()
    base = ProbeResult(target, source, 0, 0, 1.0, time=started)
    try:
        argv = build_ping_argv(system, source, target, count, timeout)
    except ValueError as exc:
        return replace(base, error=str(exc))
    try:
        res = runner(
            argv, timeout=deadline_seconds(count, timeout) + HANG_MARGIN, ok_codes=range(256)
        )
    except CommandError as exc:
        if exc.timed_out:
            log.warning("ping %s -> %s hung and was killed", source, target)
            return replace(base, error="ping timed out")
        return replace(base, error=str(exc))
    result = parse_ping(res.stdout, source=source, target=target, time=started)
    stderr = (res.stderr or "").strip().splitlines()
    if result.sent == 0 and stderr:
        # e.g. "ping: bind: Can't assign requested address" (source not on this host)
        result = replace(result, error=f"{stderr[-1].strip()} (exit {res.returncode})")
    elif result.detail is None and result.received == 0 and stderr:
        result = replace(result, detail=stderr[-1].strip())  # "ping: sendto: No route to host"
    log.debug(
        "probe %s -> %s: %d/%d, error %s",
        source,
        target,
        result.received,
        result.sent,
        result.error,
    )
    return result
