"""Classifier for charon log lines (filelog, BSD syslog and RFC 5424 syslog).

Usage::

    from s2s_agent.observe.parsers import classify_line, parse_log
    ev = classify_line("Nov 26 22:47:17 fw charon[1234]: 09[IKE] <con1|3> sending DPD request")
    ev.kind, ev.conn, ev.ike_id, ev.time  # 'dpd_request', 'con1', 3, '2026-11-26T22:47:17'
    events = parse_log(text, year=2026)   # one LogEvent per non-blank line

Line formats (the prefix before charon's ``NN[GRP]`` is the "header")::

    2026-11-26T22:48:17 10[IKE] <azure|1> sending DPD request       filelog, ISO time
    Nov 26 22:48:17 10[IKE] <azure|1> ...                           filelog, %b %e %T
    10[IKE] <azure|1> ...                                           filelog, no time
    [IKE] initiating IKE_SA azure[1] to 203.0.113.1                  swanctl --initiate output
    Nov 26 22:47:17 pfsense charon[1234]: 09[IKE] <con1|3> ...      BSD syslog (pfSense)
    <30>1 2026-11-26T22:47:17.123456+00:00 pfsense charon 1234 - - 09[IKE] <con1|3> ...
    2026-11-26T22:47:17<TAB>Informational<TAB>charon<TAB>09[IKE] <con1|3> ...  copied from
                                                        OPNsense's log view (tab-separated)
    Nov 26 22:47:17 host charon-systemd[1234]: IKE_SA con1[3] established ...  journal
                                                        (journalctl; no NN[GRP], no <conn|id>)

Journal lines (charon-systemd logs to journald without charon's ``NN[GRP] <conn|id>``
prefix): the message follows the ``charon-systemd[PID]:`` (or ``charon[PID]:``) tag, and
the connection and IKE id are read from an ``IKE_SA name[N]`` in the message, else null.

``GRP`` may carry the level (``IKE1``, charon's ``log_level`` option); ``<id>`` without a
name appears while the IKE SA has no config yet.

Schema of ``LogEvent.to_dict()`` (``ike_id`` is an attribute, not in the dict)::

    {"time": str|null,     # ISO 8601. ISO/RFC 5424 stamps verbatim ("2026-11-26 22:48:17"
                           #   gets a "T"); BSD stamps have no year and no zone: the year is
                           #   the ``year`` argument, by default the current one, or the
                           #   previous one for a month more than one ahead of now (a
                           #   December line read in January); local time, no offset.
                           #   null when absent, "-" or not a valid date.
     "conn": str|null,     # name from "<name|id>", null when absent
     "kind": str,          # one of model.LOG_KINDS
     "message": str}       # text after "NN[GRP] " and "<name|id> " (journal: after the
                           #   "charon-systemd[PID]: " tag); else the whole line

Kinds, from strongSwan 5.9.8's own message strings (sa/ike_sa.c, sa/ikev2/tasks/*.c,
sa/ikev2/task_manager_v2.c, sa/ikev1/..., kernel_netlink/kernel_pfroute), matched at the
start of the message:

* ``ike_established``: ``IKE_SA n[i] established between ...``
* ``child_established``: ``[inbound |outbound ]CHILD_SA n{i} established ...``
* ``ike_deleted``: ``deleting IKE_SA ...``, ``IKE_SA deleted``, and
  ``IKE_SA n[i] state change: X => DESTROYING`` (the only trace, at log level 2, of an
  SA torn down without a DELETE, e.g. after DPD gives up). One deletion usually yields
  two or three such events: de-duplicate on (conn, ike_id).
* ``child_deleted``: ``closing [expired ]CHILD_SA ...``, ``CHILD_SA closed``
* ``dpd_request``: ``sending DPD request``
* ``retransmit``: ``retransmit N of request with message ID M`` (IKEv2),
  ``sending retransmit N of ...`` (IKEv1)
* ``retransmit_giveup``: ``giving up after N retransmits`` / ``... path probings``
* ``auth_failed``: ``tried N shared key(s) for ... but MAC mismatched``, ``received
  AUTHENTICATION_FAILED notify error`` (IKEv1: ``error notify``), ``authentication of
  '...' ... failed``, ``no shared key found for ...``, ``calculated HASH does not match
  HASH payload`` (IKEv1 PSK mismatch)
* ``no_proposal``: ``no acceptable proposal found``, ``received NO_PROPOSAL_CHOSEN
  notify ...``, ``no matching proposal found`` (not "..., trying alternative config"),
  ``no proposal found``, ``received proposals unacceptable``
* ``ts_unacceptable``: ``no acceptable traffic selectors found``, ``received
  TS_UNACCEPTABLE notify ...``, ``traffic selectors ... unacceptable``
* ``peer_config_not_found``: ``no matching peer config found``, ``no peer config
  found``, ``no IKE config found for A...B, sending NO_PROPOSAL_CHOSEN`` (a peer at an
  address no connection expects: what Azure logs after our WAN IP changed)
* ``address_change``: ``old path is not available anymore``, ``old path is not
  preferred anymore``, ``reauthenticating IKE_SA due to address change``, ``local|remote
  endpoint changed from A to B`` when the address changes (a port-only change, e.g.
  the NAT-T float 500 -> 4500, and 0.0.0.0 -> A at SA setup are ``other``), ``requesting address
  change using MOBIKE``, ``implicitly requesting an address change``, ``detected changes
  in NAT mappings``, and the kernel's ``ADDR appeared on IF`` / ``ADDR disappeared from
  IF`` (no conn: the consumer matches ADDR against the tunnel's local address)
* ``other``: everything else, including any garbage. ``classify_line`` never raises;
  it reads at most the first ``MAX_LINE`` (64 KiB) characters of a line.
"""

from __future__ import annotations

import functools
import logging
import re
import time as _clock

from ...core.model import LogEvent

log = logging.getLogger(__name__)

MAX_LINE = 65536
"""Only this much of a line is read (charon's lines are far shorter); bounds the work."""

MARKER_WINDOW = 256
"""The ``NN[GRP]`` marker is looked for only in a line's first this many characters."""

_A = re.ASCII
_MARKER = re.compile(
    r"(?:^|(?<=[ \t]))\d{0,4}\[[A-Z]{3}\d?\] (?:<(?:([^<>|\n]*)\|)?(\d{1,10})> )?", _A
)
# no NN[GRP] marker (charon-systemd's journal, "journalctl -u strongswan"): the message
# follows the syslog tag; the connection is read from "IKE_SA name[N]" in the message
_TAG = re.compile(r"(?:^|(?<=[ \t]))charon(?:-systemd)?(?:\[\d{1,10}\])?:[ \t]", _A)
_SA_NAME = re.compile(r"(?<![A-Z_])IKE_SA ([^\s\[\]{}]+)\[(\d{1,10})\]", _A)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_MDAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_TIME = re.compile(
    r"(?:<\d{1,3}>(?:\d{1,2} )?)?"  # syslog PRI (BSD) or PRI + VERSION (RFC 5424)
    r"(?:(?P<date>\d{4}-\d\d-\d\d)[T ](?P<itime>\d\d:\d\d:\d\d(?:[.,]\d{1,9})?)"
    r"(?P<zone>Z|[+-]\d\d:?\d\d)?(?=[ \t])"
    r"|(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<btime>\d\d:\d\d:\d\d(?:\.\d{1,9})?)[ \t])",
    _A,
)
_KINDS = re.compile(
    r"(?P<ike_established>IKE_SA \S+\[\d+\] established between )"
    r"|(?P<child_established>(?:inbound |outbound )?CHILD_SA \S+\{\d+\} established )"
    r"|(?P<ike_deleted>deleting IKE_SA |IKE_SA deleted"
    r"|IKE_SA \S+\[\d+\] state change: [A-Z_]+ => DESTROYING)"
    r"|(?P<child_deleted>closing (?:expired )?CHILD_SA |CHILD_SA closed)"
    r"|(?P<dpd_request>sending DPD request)"
    r"|(?P<retransmit>retransmit \d+ of request with message ID |sending retransmit \d+ of )"
    r"|(?P<retransmit_giveup>giving up after \d+ (?:retransmits|path probings))"
    r"|(?P<auth_failed>tried \d+ shared keys? for .* but MAC mismatched"
    r"|received AUTHENTICATION_FAILED (?:notify|error notify)"
    r"|authentication of '[^']*' .*failed|no shared key found for "
    r"|calculated HASH does not match HASH payload)"
    r"|(?P<no_proposal>no acceptable proposal found"
    r"|received NO_PROPOSAL_CHOSEN (?:notify|error notify)"
    r"|no matching proposal found(?!, trying alternative)|no proposal found"
    r"|received proposals unacceptable)"
    r"|(?P<ts_unacceptable>no acceptable traffic selectors found"
    r"|received TS_UNACCEPTABLE (?:notify|error notify)|traffic selectors .* unacceptable)"
    r"|(?P<peer_config_not_found>no matching peer config found|no peer config found"
    r"|no IKE config found for )"
    r"|(?P<address_change>old path is not (?:available|preferred) anymore"
    r"|reauthenticating IKE_SA due to address change"
    r"|(?:local|remote) endpoint changed from "
    r"|requesting address change using MOBIKE|implicitly requesting an address change"
    r"|detected changes in NAT mappings"
    r"|[0-9A-Fa-f:.%a-z]+ (?:appeared on|disappeared from) )",
    _A,
)
# "endpoint changed" is address_change only when the address itself changes and the old
# one was known: charon also logs NAT-T port floats (500 -> 4500) and, at level 2, the
# 0.0.0.0 -> address fill-in of every new IKE_SA.
_ENDPOINT = re.compile(
    r"(?:local|remote) endpoint changed from (\S+?)(?:\[\d+\])? to (\S+?)(?:\[\d+\])?\s*$", _A
)
_UNKNOWN_ADDR = frozenset(("0.0.0.0", "::", "%any", "%any6"))


def _iso_date(y: int, mo: int, d: int) -> bool:
    if not (1 <= mo <= 12 and 1 <= d <= _MDAYS[mo - 1]):
        return False
    return not (mo == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)))


def _hms_ok(hms: str) -> bool:
    return int(hms[0:2]) < 24 and int(hms[3:5]) < 60 and int(hms[6:8]) <= 60


@functools.lru_cache(maxsize=512)
def _stamp(header: str, year: int | None, now_year: int, now_mon: int) -> str | None:
    # cached: consecutive lines mostly share one header (same second, same pid)
    m = _TIME.match(header)
    if m is None:
        return None
    date = m.group("date")
    if date is not None:
        t = m.group("itime")
        if not (_iso_date(int(date[:4]), int(date[5:7]), int(date[8:10])) and _hms_ok(t)):
            return None
        return f"{date}T{t}{m.group('zone') or ''}"
    mon = m.group("mon")
    if mon is None:
        return None
    mo = _MONTHS.get(mon)
    if year is None and mo is not None:
        # BSD syslog has no year: a month more than one ahead of now is last year's
        # (a December line read in January); one ahead is clock skew, still this year
        year = now_year - 1 if mo > now_mon + 1 else now_year
    day = int(m.group("day"))
    t = m.group("btime")
    if mo is None or not (_iso_date(year, mo, day) and _hms_ok(t)):
        return None
    return f"{year:04d}-{mo:02d}-{day:02d}T{t}"


def _no_marker(line: str, year: int | None) -> tuple[str, str | None, int | None, str | None]:
    """(message, conn, ike_id, time) of a line without ``NN[GRP]``: a journal line
    (``... charon-systemd[PID]: message``) or anything else (the whole line: also
    ``journalctl -o cat``); the connection is read from ``IKE_SA name[N]`` in it."""
    t = _TAG.search(line, 0, MARKER_WINDOW)
    if t is None:  # also "journalctl -o cat": the bare message
        message, stamp = line.strip(), None
    else:
        message = line[t.end() :].strip()
        now = _clock.localtime()
        stamp = _stamp(line[: t.start()], year, now.tm_year, now.tm_mon) if t.start() else None
    sa = _SA_NAME.search(message, 0, MARKER_WINDOW)
    if sa is None:
        return message, None, None, stamp
    return message, sa.group(1), int(sa.group(2)), stamp


def classify_line(line: str, *, year: int | None = None) -> LogEvent:
    """Classify one charon log line; total: any input gives a LogEvent (kind "other")."""
    if not isinstance(line, str):
        line = (
            bytes(line).decode("utf-8", errors="replace")
            if isinstance(line, bytes | bytearray)
            else str(line)
        )
    line = line[:MAX_LINE].rstrip("\r\n")
    m = _MARKER.search(line, 0, MARKER_WINDOW)
    if m is None:
        message, conn, ike_id, stamp = _no_marker(line, year)
    else:
        message = line[m.end() :]
        conn = m.group(1) or None
        ike_id = int(m.group(2)) if m.group(2) else None
        header = line[: m.start()]
        if not header:
            stamp = None
        else:
            now = _clock.localtime()
            stamp = _stamp(header, year, now.tm_year, now.tm_mon)
    k = _KINDS.match(message)
    kind = k.lastgroup if k is not None else "other"
    if kind == "address_change" and "endpoint changed" in message[:24]:
        e = _ENDPOINT.match(message)
        if e is None or e.group(1) == e.group(2) or e.group(1) in _UNKNOWN_ADDR:
            kind = "other"
    return LogEvent(time=stamp, conn=conn, kind=kind, message=message, ike_id=ike_id)


def parse_log(text: str, *, year: int | None = None) -> list[LogEvent]:
    """Classify every non-blank line of ``text`` (split on ``\\n`` only)."""
    if not isinstance(text, str):
        text = (
            bytes(text).decode("utf-8", errors="replace")
            if isinstance(text, bytes | bytearray)
            else str(text)
        )
    return [classify_line(ln, year=year) for ln in text.split("\n") if ln.strip()]
