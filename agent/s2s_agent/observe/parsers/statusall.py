"""Parser for ``ipsec statusall`` / ``ipsec status`` (stroke plugin; pfSense ≤ 2.4).

Usage::

    from s2s_agent.observe.parsers import parse_statusall
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

Versions (from ``stroke_list.c`` of each release):

* 5.3 and later: ``name{N}:  STATE, MODE, reqid R, ...`` where N is the CHILD SA's
  unique id. 6.x with per-CPU SAs lists one CHILD SA per CPU (distinct ids, one reqid).
* before 5.3: no ``, reqid R``; ``{N}`` *is* the reqid, so a REKEYING/REKEYED child and
  its INSTALLED replacement can both be ``{21}``. Each state line starts its own entry
  (``uniqueid`` is null: the output has none) and detail lines go to the newest entry
  of that name and number.
* 4.x: a bare ``Security Associations:`` header, ``IKE SPIs:`` (no version: null).
* 5.0.0 to 5.0.3 (and 4.x): ``N bytes_i (Ts ago)`` without a packet count: packets are
  null unless the byte count is 0.
* A ``, cpu N`` field (or any other) after the mode is ignored.

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
* Unknown detail lines of a known SA are ignored (newer strongSwan may add some).

Damage stays local. A line that cannot be read is skipped with a warning
(``SaSnapshot.warnings``) and costs only what it would have given:

* a bad IKE/CHILD state line: the SA is still listed (from its other lines) with
  ``state`` null; a bad counter or selector line: those fields stay null/empty;
* the IKE SA it belongs to is marked ``damaged`` (a CHILD SA missing from it may be the
  one the line described); a line that names no SA at all sets
  ``SaSnapshot.unattributed`` (any SA missing from the snapshot may be that one).

ParseError (only) when the text is not ``ipsec statusall``/``ipsec status`` output at
all: empty, binary, or neither a ``Security Associations`` header nor an IKE SA state
line (``name[N]: STATE ..., a[b]...c[d]``; one without the header starts the section,
with a warning).
"""

from __future__ import annotations

import logging
import re

from ...core.errors import ParseError
from ...core.model import SaSnapshot
from ._common import (
    Damage,
    LineError,
    build_snapshot,
    looks_binary,
    new_child,
    run_lines,
    split_ts,
    to_int,
)

log = logging.getLogger(__name__)

SOURCE = "ipsec statusall"

_A = re.ASCII
_HEADER = re.compile(r"\s*Security Associations(?: \((\d+) up, (\d+) connecting\))?:\s*$", _A)
# one regex for both: "name[N]: ..." (IKE SA) or "name{N}: ..." (CHILD SA)
_SA = re.compile(r"\s*([^\s\[\]{}]+)(?:\[(\d{1,20})\]|\{(\d{1,20})\}):(.*)$", _A)
_IKE_STATE = re.compile(r"([A-Z][A-Z_]*)(?: (\d{1,20}) (second|minute|hour|day)s? ago)?, ", _A)
_IKE_VERSION = re.compile(r"IKE(?:v(\d))? SPIs:", _A)
_CHILD_STATES = frozenset(
    [
        "CREATED",
        "ROUTED",
        "INSTALLING",
        "INSTALLED",
        "UPDATING",
        "REKEYING",
        "REKEYED",
        "RETRYING",
        "DELETING",
        "DELETED",
        "DESTROYING",
    ]
)
_MODE = re.compile(r"[A-Z][A-Z_]*", _A)  # TUNNEL, TRANSPORT, BEET, PASS, DROP, newer ones
_REQID = re.compile(r"reqid (\d{1,20})$", _A)
_BYTES_IN = re.compile(r"(\d{1,20}) bytes_(i)(?: \((?:(\d{1,20}) pkts?, )?\d{1,20}s ago\))?", _A)
_BYTES_OUT = re.compile(r"(\d{1,20}) bytes_(o)(?: \((?:(\d{1,20}) pkts?, )?\d{1,20}s ago\))?", _A)
_UNIT = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_NO_SAS = ("none", "no match")
# what ends the section: pluto's status (4.x "ipsec statusall" prints both daemons)
_OTHER_DAEMON = ("000 ", "Status of IKEv1 pluto")


def _packets(bytes_: int, packets: str | None) -> int | None:
    if packets is not None:
        return int(packets)
    return 0 if bytes_ == 0 else None


def _endpoints(text: str) -> tuple[str, str, str, str] | None:
    """``host[id]...host[id]`` split without backtracking (ids may hold spaces)."""
    lb = text.find("[")
    sep = text.find("]...", lb)
    if lb < 0 or sep < 0 or not text.endswith("]"):
        return None
    right = text[sep + 4 :]
    rb = right.find("[")
    if rb < 0:
        return None
    return text[:lb], _no_port(text[lb + 1 : sep]), right[:rb], _no_port(right[rb + 1 : -1])


def _no_port(ident: str) -> str:
    """Vyatta/DANOS builds print ``host[port][id]``: drop the ``port][`` part."""
    port, sep, rest = ident.partition("][")
    return rest if sep and port.isdigit() and len(port) <= 5 else ident


def _ike_state_line(line: str) -> bool:
    m = _SA.match(line)
    return bool(m and m.group(2) is not None and _IKE_STATE.match(m.group(4).strip()))


def _child_state(rest: str) -> tuple[str, str, int | None, bool] | None:
    """``STATE, MODE[_PROXY][, reqid R][, ...]`` → (state, mode, reqid, has_reqid)."""
    parts = rest.split(", ", 3)
    if len(parts) < 2 or parts[0] not in _CHILD_STATES:
        return None
    mode = parts[1].strip()
    if mode.endswith("_PROXY"):
        mode = mode[: -len("_PROXY")]
    if not _MODE.fullmatch(mode):
        return None
    m = _REQID.match(parts[2].strip()) if len(parts) > 2 else None
    return parts[0], mode, (int(m.group(1)) if m else None), m is not None


class _Builder:
    """Collects the lines of one snapshot; ``line()`` raises LineError on a bad line."""

    def __init__(self) -> None:
        self.in_section = False
        self.done = False
        self.ikes: dict[tuple[str, int], dict] = {}
        self.order: list[dict] = []
        self.current: dict | None = None
        self.damage = Damage()

    def skip(self, n: int, line: str, why: str, unattributed: bool) -> None:
        """A line that could not be read: its SA (if known) is damaged, else the snapshot."""
        self.damage.add(n, why)
        m = _SA.match(line)
        target = None
        if unattributed or m is None:
            pass  # names no SA: it may have been any SA's state line
        elif m.group(2) is not None:
            target = self.ikes.get((m.group(1), int(m.group(2))))
        else:
            target = self.current
        if target is None:
            self.damage.unattributed = True
        else:
            target["damaged"] = True

    def line(self, n: int, line: str) -> None:
        # cheap substring tests before the regexes: this runs for every line (bench: 1,000 SAs)
        if self.done:
            return
        if not self.in_section:
            if "Security Associations" in line and _HEADER.match(line):
                self.in_section = True
            elif "..." in line and _ike_state_line(line):
                # the header line itself was lost: an IKE state line is only ever
                # printed in the SA section, so the section starts here
                self.in_section = True
                self.line(n, line)
                raise LineError(
                    "no 'Security Associations' header before this IKE SA", unattributed=True
                )
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
        if stripped.startswith(_OTHER_DAEMON):
            self.done = True
            return
        if _HEADER.match(line):
            raise LineError("second 'Security Associations' header")
        raise LineError(f"expected 'name[N]:' or 'name{{N}}:', got {stripped[:60]!r}")

    def _new_ike(self, name: str, uid: int) -> dict:
        ike = {
            "name": name,
            "uniqueid": uid,
            "state": None,
            "version": None,
            "local_host": None,
            "local_id": None,
            "remote_host": None,
            "remote_id": None,
            "established_seconds": None,
            "children": [],
            "latest": {},
            "damaged": False,
        }
        self.ikes[(name, uid)] = ike
        self.order.append(ike)
        return ike

    def _ike(self, name: str, uid: int, rest: str) -> None:
        key = (name, uid)
        ike = self.ikes.get(key)
        m = _IKE_STATE.match(rest) if "..." in rest else None
        if m is not None:
            if ike is None or ike["state"] is not None:
                ike = self._new_ike(name, uid)
            n, unit = m.group(2), m.group(3)
            ike["state"] = m.group(1)
            ike["established_seconds"] = int(n) * _UNIT[unit] if n else None
            self.current = ike
            ends = _endpoints(rest[m.end() :])
            if ends is None:
                ike["damaged"] = True
                raise LineError(f"malformed addresses of IKE SA {name}[{uid}]: {rest[:60]!r}")
            ike["local_host"], ike["local_id"], ike["remote_host"], ike["remote_id"] = ends
            return
        if ike is None:
            # its state line is missing or unreadable: keep the SA, state unknown
            self.current = self._new_ike(name, uid)
            self.current["damaged"] = True
            raise LineError(f"IKE SA {name}[{uid}]: state line missing or unreadable")
        self.current = ike
        v = _IKE_VERSION.match(rest)
        if v:
            ike["version"] = int(v.group(1)) if v.group(1) else None
        elif "..." in rest:
            raise LineError(f"malformed state line of IKE SA {name}[{uid}]: {rest[:60]!r}")
        elif not rest.startswith(("IKE proposal:", "Tasks ", "Remote ")):
            log.debug("statusall: ignoring unknown line of %s[%d]: %.60s", name, uid, rest)

    def _child(self, name: str, uid: int, rest: str) -> None:
        if self.current is None:
            raise LineError(f"CHILD_SA {name}{{{uid}}} before any IKE SA")
        children = self.current["children"]
        latest = self.current["latest"]  # (name, N) -> its newest entry
        st = _child_state(rest) if ", " in rest else None
        if st is not None:
            state, mode, _reqid, has_reqid = st
            # before 5.3 "{N}" is the reqid, not a unique id
            child = new_child(name, uid if has_reqid else None, state, mode)
            children.append(child)
            latest[(name, uid)] = child
            return
        child = latest.get((name, uid))
        if child is None:
            child = new_child(name, None, None, None)
            children.append(child)
            latest[(name, uid)] = child
            raise LineError(f"CHILD_SA {name}{{{uid}}}: state line missing or unreadable")
        if "===" in rest:
            local, _, remote = rest.partition("===")
            child["local_ts"].extend(split_ts(local))
            child["remote_ts"].extend(split_ts(remote))
            return
        if "bytes_" in rest:
            t_in = _BYTES_IN.search(rest)
            t_out = _BYTES_OUT.search(rest, t_in.end()) if t_in else None
            if t_out is None:
                raise LineError(f"malformed counters of CHILD_SA {name}{{{uid}}}")
            for t, side in ((t_in, "in"), (t_out, "out")):
                b = to_int(t.group(1), f"bytes {side}")
                child[f"bytes_{side}"] = b
                child[f"packets_{side}"] = _packets(b, t.group(3))
            return
        if rest.split(", ", 1)[0].strip() in _CHILD_STATES:
            raise LineError(f"malformed state line of CHILD_SA {name}{{{uid}}}: {rest[:60]!r}")
        log.debug("statusall: ignoring unknown line of %s{%d}: %.60s", name, uid, rest)

    def snapshot(self) -> SaSnapshot:
        return build_snapshot(self.order, lambda ike: ike["children"], self.damage)


def parse_statusall(text: str) -> SaSnapshot:
    """Parse ``ipsec statusall`` (or ``ipsec status``) output; see the module docstring."""
    b = _Builder()
    seen = run_lines(SOURCE, text, b.line, b.skip)
    if not seen:
        raise ParseError(SOURCE, "empty output")
    if not b.in_section:
        what = "binary data" if looks_binary(text if isinstance(text, str) else "") else "text"
        raise ParseError(
            SOURCE,
            f"no 'Security Associations' section in this {what}; "
            "is this the output of 'ipsec statusall'?",
        )
    snap = b.snapshot()
    for w in snap.warnings:
        log.debug("statusall: skipped %s", w)
    log.debug("statusall: %d IKE SA(s)", len(snap.ike_sas))
    return snap
