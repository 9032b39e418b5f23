"""Parser for ``ipsec statusall`` / ``ipsec status`` (stroke plugin; pfSense ≤ 2.4).

Usage::

    from s2s_agent.parsers import parse_statusall
    snapshot = parse_statusall(text)          # -> SaSnapshot; ParseError if not statusall

Only the ``Security Associations (N up, M connecting):`` section is read; everything
before it (daemon status, ``Listening IP addresses:``, ``Connections:``, ``Shunted``/
``Routed Connections:``) may be present or absent and is ignored: routed (trap) children
are policies, not SAs. Lines handled, as strongSwan 5.9's ``stroke_list.c`` prints them::

    azure[1]: ESTABLISHED 3 minutes ago, 198.51.100.2[198.51.100.2]...203.0.113.1[203.0.113.1]
    azure[1]: IKEv2 SPIs: ed52ae21c0df697b_i* 7706634a5ae4863d_r, rekeying in 7 hours
    azure-net{1}:  INSTALLED, TUNNEL, reqid 1, ESP in UDP SPIs: 084bbfae_i 7f93c6ba_o
    azure-net{1}:  AES_CBC_256/HMAC_SHA2_256_128, 84 bytes_i (1 pkt, 0s ago), 0 bytes_o, ...
    azure-net{1}:   192.168.1.0/24 10.2.0.0/16 === 10.1.10.0/24

Schema (``SaSnapshot.to_dict()``)::

    {"ike_sas": [                       # in input order (stroke does not sort by id)
      {"name": str,                     # from "name[N]:"
       "uniqueid": int,                 # N
       "state": str,                    # CONNECTING, ESTABLISHED, DELETING, ...
       "version": int|null,             # 1/2 from "IKEv1 SPIs"/"IKEv2 SPIs"; null with
                                        #   plain "ipsec status" (no SPI line)
       "local_host": str, "remote_host": str,
       "local_id": str, "remote_id": str,   # "%any" while CONNECTING, verbatim
       "established_seconds": int|null, # see below; null unless ESTABLISHED
       "child_sas": [                   # children printed after their IKE SA's lines
         {"name": str,                  # from "name{N}:" (may equal the IKE name)
          "uniqueid": int, "state": str,
          "mode": str,                  # TUNNEL, TRANSPORT, BEET ("_PROXY" dropped)
          "bytes_in": int|null, "bytes_out": int|null,     # null: no traffic line
          "packets_in": int|null, "packets_out": int|null, # see below
          "local_ts": [str], "remote_ts": [str]}]}]}

Quirks, decided here:

* ``established_seconds``: stroke prints ``%V`` (``N seconds`` up to 120 s, then
  ``N minutes`` up to 2 h, ``N hours`` up to 2 days, then ``N days``, each rounded down).
  The value is ``N × unit`` — a lower bound, up to one unit (60 s / 1 h / 1 day) low.
* Packets: stroke prints ``(N pkts, Ts ago)`` only when the SA was ever used. Without it,
  ``packets`` is ``0`` when ``bytes`` is ``0`` (nothing went through), else ``null``
  (bytes were counted but the kernel gave no use time: the count is unknown).
* Traffic selectors are separated by spaces (5.9) or commas (older); several ``===``
  lines for one child are concatenated.
* IKE lines are ``name[N]:``, child lines ``name{N}:``; names may be equal
  (pfSense ``con1``/``con1``) or differ (``con1``/``con1_1``). A child belongs to the IKE
  SA whose line came last before it.
* Truncated output: a last line without newline that does not parse is dropped (unless
  it is the only line).
  Unknown detail lines of a known SA are ignored (newer strongSwan may add some).

ParseError (only) when: no ``Security Associations`` header; a line in that section is
neither an IKE nor a child line; a child line comes before any IKE SA; a detail line
names an SA whose first line was not seen; an SA's first line is duplicated; a state
line or counter is malformed.
"""

from __future__ import annotations

import logging
import re

from ..errors import ParseError
from ..model import SaSnapshot
from ._common import LineError, build_snapshot, new_child, run_lines, split_ts

log = logging.getLogger(__name__)

SOURCE = "ipsec statusall"

_A = re.ASCII
_HEADER = re.compile(r"Security Associations \((\d+) up, (\d+) connecting\):\s*$", _A)
# one regex for both: "name[N]: ..." (IKE SA) or "name{N}: ..." (CHILD SA)
_SA = re.compile(r"\s*([^\s\[\]{}]+)(?:\[(\d{1,20})\]|\{(\d{1,20})\}):(.*)$", _A)
_IKE_STATE = re.compile(
    r"([A-Z][A-Z_]*)(?: (\d{1,20}) (second|minute|hour|day)s? ago)?, "
    r"([^\s\[\]]*)\[(.*?)\]\.\.\.([^\s\[\]]*)\[(.*)\]\s*$",
    _A,
)
_IKE_VERSION = re.compile(r"IKEv(\d) SPIs:", _A)
_CHILD_STATE = re.compile(r"([A-Z][A-Z_]*), ([A-Z][A-Z_]*), reqid (\d{1,20})", _A)
_TS = re.compile(r"(.*?)\s*===\s*(.*)$", _A)
_TRAFFIC = re.compile(
    r"(\d{1,20}) bytes_i(?: \((\d{1,20}) pkts?, \d+s ago\))?, "
    r"(\d{1,20}) bytes_o(?: \((\d{1,20}) pkts?, \d+s ago\))?",
    _A,
)
_UNIT = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_NO_SAS = ("none", "no match")


def _packets(bytes_: int, packets: str | None) -> int | None:
    if packets is not None:
        return int(packets)
    return 0 if bytes_ == 0 else None


class _Builder:
    """Collects the lines of one snapshot; ``line()`` raises LineError on bad structure."""

    def __init__(self) -> None:
        self.in_section = False
        self.ikes: dict[tuple[str, int], dict] = {}
        self.current: dict | None = None

    def line(self, n: int, line: str) -> None:
        # cheap substring tests before the regexes: this runs for every line (bench: 1,000 SAs)
        if not self.in_section:
            if "Security Associations" in line and _HEADER.match(line):
                self.in_section = True
            return
        m = _SA.match(line)
        if m:
            name, ike_uid, child_uid, rest = m.groups()
            if ike_uid is not None:
                self._ike(name, int(ike_uid), rest.strip())
            else:
                self._child(name, int(child_uid), rest.strip())
            return
        stripped = line.strip()
        if stripped in _NO_SAS:
            return
        if _HEADER.match(line):
            raise LineError("second 'Security Associations' header")
        raise LineError(f"expected 'name[N]:' or 'name{{N}}:', got {stripped[:60]!r}")

    def _ike(self, name: str, uid: int, rest: str) -> None:
        key = (name, uid)
        m = _IKE_STATE.match(rest) if "..." in rest else None
        if m:
            if key in self.ikes:
                raise LineError(f"IKE SA {name}[{uid}] listed twice")
            n, unit = m.group(2), m.group(3)
            ike = {
                "name": name,
                "uniqueid": uid,
                "state": m.group(1),
                "version": None,
                "local_host": m.group(4),
                "local_id": m.group(5),
                "remote_host": m.group(6),
                "remote_id": m.group(7),
                "established_seconds": int(n) * _UNIT[unit] if n else None,
                "children": {},
            }
            self.ikes[key] = ike
            self.current = ike
            return
        ike = self.ikes.get(key)
        if ike is None:
            raise LineError(f"line for IKE SA {name}[{uid}] before its state line")
        self.current = ike
        v = _IKE_VERSION.match(rest)
        if v:
            ike["version"] = int(v.group(1))
        elif not rest.startswith(("IKE proposal:", "Tasks ", "Remote ")):
            log.debug("statusall: ignoring unknown line of %s[%d]: %.60s", name, uid, rest)

    def _child(self, name: str, uid: int, rest: str) -> None:
        if self.current is None:
            raise LineError(f"CHILD_SA {name}{{{uid}}} before any IKE SA")
        children = self.current["children"]
        key = (name, uid)
        m = _CHILD_STATE.match(rest) if ", reqid " in rest else None
        if m:
            if key in children:
                raise LineError(f"CHILD_SA {name}{{{uid}}} listed twice")
            mode = m.group(2)
            if mode.endswith("_PROXY"):
                mode = mode[: -len("_PROXY")]
            children[key] = new_child(name, uid, m.group(1), mode)
            return
        child = children.get(key)
        if child is None:
            raise LineError(f"line for CHILD_SA {name}{{{uid}}} before its state line")
        ts = _TS.match(rest) if "===" in rest else None
        if ts:
            child["local_ts"].extend(split_ts(ts.group(1)))
            child["remote_ts"].extend(split_ts(ts.group(2)))
            return
        if "bytes_i" in rest:
            t = _TRAFFIC.search(rest)
            if not t:
                raise LineError(f"malformed counters of CHILD_SA {name}{{{uid}}}")
            b_in, b_out = int(t.group(1)), int(t.group(3))
            child["bytes_in"], child["bytes_out"] = b_in, b_out
            child["packets_in"] = _packets(b_in, t.group(2))
            child["packets_out"] = _packets(b_out, t.group(4))
            return
        log.debug("statusall: ignoring unknown line of %s{%d}: %.60s", name, uid, rest)

    def snapshot(self) -> SaSnapshot:
        return build_snapshot(self.ikes.values(), lambda ike: ike["children"].values())


def parse_statusall(text: str) -> SaSnapshot:
    """Parse ``ipsec statusall`` (or ``ipsec status``) output; see the module docstring."""
    b = _Builder()
    run_lines(SOURCE, text, b.line, allow_empty=False)
    if not b.in_section:
        raise ParseError(
            SOURCE,
            "no 'Security Associations' section; is this the output of 'ipsec statusall'?",
        )
    snap = b.snapshot()
    log.debug("statusall: %d IKE SA(s)", len(snap.ike_sas))
    return snap
