"""Parser for ``swanctl --list-sas`` text output (pfSense ≥ 2.5 without VICI access).

Usage::

    from s2s_agent.parsers import parse_list_sas
    snapshot = parse_list_sas(text)           # -> SaSnapshot; ParseError if malformed

Lines handled, as strongSwan 5.9's ``swanctl/commands/list_sas.c`` prints them (the
indentation is significant: 0 = IKE SA, 2 = IKE detail or CHILD_SA, 4 = CHILD detail)::

    azure: #1, ESTABLISHED, IKEv2, ed52ae21c0df697b_i* 7706634a5ae4863d_r
      local  '198.51.100.2' @ 198.51.100.2[4500]
      remote '203.0.113.1' @ 203.0.113.1[4500]
      AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_1024
      established 3s ago, rekeying in 27582s
      azure-net: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-256/HMAC_SHA2_256_128
        installed 3s ago, rekeying in 3453s, expires in 3960s
        in  084bbfae,    504 bytes,     6 packets,     0s ago
        out 7f93c6ba,    504 bytes,     6 packets,     0s ago
        local  192.168.1.0/24
        remote 10.1.10.0/24 10.2.0.0/16

Schema (``SaSnapshot.to_dict()``)::

    {"ike_sas": [                       # in input order
      {"name": str, "uniqueid": int, "state": str,   # CONNECTING, ESTABLISHED, ...
       "version": int,                  # from "IKEv2"
       "local_host": str, "remote_host": str,        # the address before "[port]"
       "local_id": str, "remote_id": str,            # between the quotes; "%any" verbatim
       "established_seconds": int|null, # "established Ns ago"; null while CONNECTING
       "child_sas": [
         {"name": str, "uniqueid": int, "state": str,
          "mode": str,                  # TUNNEL, TRANSPORT, ... ("-in-UDP" dropped)
          "bytes_in": int|null, "bytes_out": int|null,      # from the in/out lines
          "packets_in": int|null, "packets_out": int|null,
          "local_ts": [str], "remote_ts": [str]}]}]}   # several, space separated

``(null)`` (printed by swanctl for a value charon did not send) becomes ``null``.
Empty output means "no SAs" (swanctl prints nothing then) and gives an empty snapshot.
A last line without newline that does not parse is a truncated read and is dropped
(unless it is the only line: one line of garbage is an error, not "no SAs");
unknown indented lines of a known SA are ignored (newer strongSwan may add some).

ParseError (only) when: a line at column 0 is not an IKE SA header; an indented line
comes before any IKE SA; a CHILD detail line comes before any CHILD_SA of its IKE SA;
an SA header is duplicated; a header, an address line or a counter is malformed.
"""

from __future__ import annotations

import logging
import re

from ..model import SaSnapshot
from ._common import LineError, build_snapshot, new_child, null_str, run_lines, split_ts, to_int

log = logging.getLogger(__name__)

SOURCE = "swanctl --list-sas"

_A = re.ASCII
_IKE = re.compile(r"(\S+?): #([^,]*), ([^,]*), IKEv([^,]*), (.*)$", _A)
_CHILD = re.compile(r"(\S+?): #([^,]*), reqid ([^,]*), ([^,]*), ([^,]*), (.*)$", _A)
_ENDPOINT = re.compile(r"(local|remote) +'(.*)' @ ([^\s\[\]]*)\[([^\]]*)\]", _A)
_ESTABLISHED = re.compile(r"established (\S+?)s ago", _A)
_COUNTERS = re.compile(r"(in|out) +\S.*?, +(\S+) bytes, +(\S+) packets(?:,|\s*$)", _A)
_TS = re.compile(r"(local|remote) +(.*)$", _A)


class _Builder:
    def __init__(self) -> None:
        self.ikes: list[dict] = []
        self.seen: set[tuple[str, int | None]] = set()
        self.ike: dict | None = None
        self.child: dict | None = None

    def line(self, n: int, line: str) -> None:
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        body = body.rstrip()
        if indent == 0:
            self._ike_header(body)
            return
        if self.ike is None:
            raise LineError(f"indented line before any IKE SA: {body[:60]!r}")
        if indent == 2:
            m = _CHILD.match(body)
            if m:
                self._child_header(m)
            else:
                self._ike_detail(body)
            return
        if self.child is None:
            raise LineError(f"CHILD_SA detail line before any CHILD_SA: {body[:60]!r}")
        self._child_detail(body)

    def _ike_header(self, body: str) -> None:
        m = _IKE.match(body)
        if not m:
            raise LineError(f"expected 'name: #N, STATE, IKEvN, ...', got {body[:60]!r}")
        name = m.group(1)
        uid = to_int(m.group(2), "IKE SA unique id")
        if (name, uid) in self.seen:
            raise LineError(f"IKE SA {name} #{uid} listed twice")
        self.seen.add((name, uid))
        self.ike = {
            "name": name,
            "uniqueid": uid,
            "state": null_str(m.group(3).strip()),
            "version": to_int(m.group(4), "IKE version"),
            "local_host": None,
            "remote_host": None,
            "local_id": None,
            "remote_id": None,
            "established_seconds": None,
            "children": [],
            "child_keys": set(),
        }
        self.child = None
        self.ikes.append(self.ike)

    def _ike_detail(self, body: str) -> None:
        ike = self.ike
        m = _ENDPOINT.match(body)
        if m:
            side = m.group(1)
            ike[f"{side}_id"] = m.group(2)
            ike[f"{side}_host"] = null_str(m.group(3))
            return
        if body.startswith(("local ", "remote ")):
            raise LineError(f"malformed address line: {body[:60]!r}")
        m = _ESTABLISHED.match(body)
        if m:
            ike["established_seconds"] = to_int(m.group(1), "established time")
            return
        # proposal, "queued:", "active:", "passive:" and future lines
        log.debug("swanctl: ignoring IKE detail line: %.60s", body)

    def _child_header(self, m: re.Match) -> None:
        name = m.group(1)
        uid = to_int(m.group(2), "CHILD_SA unique id")
        to_int(m.group(3), "reqid")
        if (name, uid) in self.ike["child_keys"]:
            raise LineError(f"CHILD_SA {name} #{uid} listed twice")
        self.ike["child_keys"].add((name, uid))
        mode = null_str(m.group(5).strip())
        if mode and mode.endswith("-in-UDP"):
            mode = mode[: -len("-in-UDP")]
        self.child = new_child(name, uid, null_str(m.group(4).strip()), mode)
        self.ike["children"].append(self.child)

    def _child_detail(self, body: str) -> None:
        child = self.child
        if body.startswith(("in ", "out ")):
            m = _COUNTERS.match(body)
            if not m:
                raise LineError(f"malformed counters line: {body[:60]!r}")
            d = m.group(1)
            child[f"bytes_{d}"] = to_int(m.group(2), f"bytes {d}")
            child[f"packets_{d}"] = to_int(m.group(3), f"packets {d}")
            return
        m = _TS.match(body)
        if m:
            child[f"{m.group(1)}_ts"].extend(split_ts(m.group(2)))
            return
        # "installed ...", "label ..." and future lines
        log.debug("swanctl: ignoring CHILD_SA detail line: %.60s", body)

    def snapshot(self) -> SaSnapshot:
        return build_snapshot(self.ikes, lambda ike: ike["children"])


def parse_list_sas(text: str) -> SaSnapshot:
    """Parse ``swanctl --list-sas`` text output; see the module docstring."""
    b = _Builder()
    run_lines(SOURCE, text, b.line, allow_empty=True)
    snap = b.snapshot()
    log.debug("swanctl: %d IKE SA(s)", len(snap.ike_sas))
    return snap
