"""Parser for ``swanctl --list-sas`` text output (pfSense ≥ 2.5 without VICI access).

Usage::

    from s2s_agent.observe.parsers import parse_list_sas
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
Unknown indented lines of a known SA are ignored (newer strongSwan may add some).

Versions (from ``swanctl/commands/list_sas.c`` of each release):

* 5.3: address lines without port (``local  '172.17.0.3' @ 172.17.0.3``), SPIs printed
  ``i:r``, ``installed Ns ago`` (5.3.0: ``installed N ago``).
* 5.2: CHILD lines without ``reqid``; read the same way.
* 5.3.5+: `` [virtual IPs]`` after an address, `` EAP: '...'``/`` XAuth: '...'`` after
  the remote one.
* 6.0.2+ with per-CPU SAs: ``name: #N, reqid R, cpu C, STATE, ...`` (``cpu -`` for the
  fallback SA); each per-CPU CHILD SA is its own entry. Several CHILD SAs of one name
  (rekeying, per-CPU) are always kept as separate entries.

Damage stays local. A line that cannot be read is skipped with a warning
(``SaSnapshot.warnings``) and costs only what it would have given:

* a bad IKE/CHILD header that still names its SA: the SA is listed with null fields;
  one that does not: its detail lines are dropped with it (they cannot be attributed);
* a bad address, time or counter line: those fields stay null;
* the IKE SA it belongs to is marked ``damaged`` (a CHILD SA missing from it may be the
  one the line described); a line before any IKE SA, or an unreadable IKE header, sets
  ``SaSnapshot.unattributed``;
* a detail line that repeats one its SA already had (``local``, ``in``, ``established``
  ...) means a header was lost in between: it and what follows up to the next header go
  to no SA, so they cannot overwrite the previous SA's fields.

ParseError (only) when the text is not ``swanctl --list-sas`` output at all: binary,
or non-blank lines of which none is an SA header or a line only swanctl prints.
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
    null_str,
    run_lines,
    split_ts,
    to_int,
)

log = logging.getLogger(__name__)

SOURCE = "swanctl --list-sas"

_A = re.ASCII
_NAME = re.compile(r"([^\s:]+): #", _A)
_ESTABLISHED = re.compile(r"established (\S+?)s ago", _A)
_WORD = re.compile(r"[A-Z][A-Z_]*|\(null\)", _A)
_CHILD_KEYS = ("in", "out", "local", "remote", "installed")


def _ike_header(body: str) -> dict | None:
    """``name: #N, STATE, IKEvV, SPIs`` → fields, or None."""
    m = _NAME.match(body)
    if not m:
        return None
    parts = body[m.end() :].split(", ", 3)
    if len(parts) < 3 or not parts[2].startswith("IKEv"):
        return None
    return {"name": m.group(1), "uid": parts[0], "state": parts[1], "version": parts[2][4:]}


def _child_header(body: str) -> dict | None:
    """``name: #N[, reqid R][, cpu C], STATE, MODE[-in-UDP], PROTO:...`` → fields, or None."""
    m = _NAME.match(body)
    if not m:
        return None
    parts = body[m.end() :].split(", ")
    plain = [p for p in parts[1:] if not p.startswith(("reqid ", "cpu "))]
    if len(plain) < 2 or plain[1].startswith("IKEv") or not _WORD.fullmatch(plain[0].strip()):
        return None
    reqid = next((p[6:] for p in parts[1:] if p.startswith("reqid ")), None)
    return {
        "name": m.group(1),
        "uid": parts[0],
        "reqid": reqid,
        "state": plain[0],
        "mode": plain[1],
    }


def _looks_like_detail(body: str) -> bool:
    """An indented line only swanctl prints (for the "is this swanctl at all?" check)."""
    if body.startswith(("local ", "remote ")):
        return "' @ " in body or body.count("/") > 0
    if body.startswith(("in ", "out ")):
        return " bytes, " in body
    return body.startswith(("established ", "installed ")) or _child_header(body) is not None


def _endpoint(body: str) -> tuple[str, str, str | None]:
    """``local  'id' @ host[port] [vips]`` (5.4+) or ``... @ host`` (5.3) → (side, id, host)."""
    side, _, rest = body.partition(" ")
    rest = rest.lstrip(" ")
    if not rest.startswith("'"):
        raise LineError(f"malformed address line: {body[:60]!r}")
    end = rest.find("' @ ")
    if end < 0:
        raise LineError(f"malformed address line: {body[:60]!r}")
    host = rest[end + 4 :].split(" ", 1)[0]
    if "[" in host:
        host, _, port = host.partition("[")
        if not port.endswith("]"):
            raise LineError(f"malformed address line: {body[:60]!r}")
    return side, rest[1:end], null_str(host)


def _counters(body: str) -> tuple[str, str, str]:
    """``in  SPI[/CPI][ (mark|if-id)], N bytes, M packets[, Ts ago]`` → (dir, N, M)."""
    d = body.split(" ", 1)[0]
    parts = body.split(",")
    if len(parts) > 2 and parts[1].endswith(" bytes") and parts[2].endswith(" packets"):
        return d, parts[1][:-6].strip(), parts[2][:-8].strip()  # the usual layout
    parts = [p.strip() for p in parts]
    b = next((p[:-6] for p in parts if p.endswith(" bytes")), None)
    k = next((p[:-8] for p in parts if p.endswith(" packets")), None)
    if b is None or k is None:
        raise LineError(f"malformed counters line: {body[:60]!r}")
    return d, b.strip(), k.strip()


class _Builder:
    def __init__(self) -> None:
        self.ikes: list[dict] = []
        self.ike: dict | None = None
        self.child: dict | None = None
        self.headers = 0
        self.recognized = 0
        self.damage = Damage()
        self._seen: set[str] = set()  # detail kinds the current IKE SA had
        self._child_seen: set[str] = set()  # ... and the current CHILD SA

    def skip(self, n: int, line: str, why: str, unattributed: bool) -> None:
        self.damage.add(n, why)
        if unattributed or self.ike is None:
            self.damage.unattributed = True
        else:
            self.ike["damaged"] = True

    def line(self, n: int, line: str) -> None:
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        body = body.rstrip()
        if indent == 0:
            h = _child_header(body) if self.ike and _ike_header(body) is None else None
            if h is not None and h["reqid"] is not None:
                indent = 2  # a CHILD header that lost its indentation
            else:
                self._ike_header(body)
                return
        if self.ike is None:
            if _looks_like_detail(body):
                self.recognized += 1  # swanctl's output, but of an SA whose header was lost
            raise LineError(f"indented line before any IKE SA: {body[:60]!r}")
        if indent <= 3:
            h = _child_header(body) if ": #" in body else None
            if h is not None:
                self._child_header(h)
            else:
                self._ike_detail(body)
            return
        if self.child is None:
            raise LineError(f"CHILD_SA detail line before any CHILD_SA: {body[:60]!r}")
        self._child_detail(body)

    def _repeat(self, kind: str, what: str, body: str) -> None:
        """A detail its SA already had: a header was lost; drop lines up to the next one."""
        seen = self._seen if what == "IKE SA" else self._child_seen
        if kind in seen:
            self.ike["damaged"] = True
            if what == "IKE SA":
                self.ike = None
            self.child = None
            raise LineError(
                f"second '{kind}' line of one {what} (header lost?): {body[:60]!r}",
                unattributed=what == "IKE SA",
            )
        seen.add(kind)

    def _ike_header(self, body: str) -> None:
        h = _ike_header(body)
        if h is None:
            m = _NAME.match(body)
            if m is None:
                # keep the current SA (this may be one of its lines that lost its indent),
                # but it may as well have been another SA's header
                raise LineError(
                    f"expected 'name: #N, STATE, IKEvN, ...', got {body[:60]!r}", unattributed=True
                )
            h = {"name": m.group(1), "uid": None, "state": None, "version": None}
        self.child = None
        self._seen = set()
        ike = {
            "name": h["name"],
            "uniqueid": None,
            "state": null_str((h["state"] or "").strip()),
            "version": None,
            "local_host": None,
            "remote_host": None,
            "local_id": None,
            "remote_id": None,
            "established_seconds": None,
            "children": [],
            "damaged": False,
        }
        self.ikes.append(ike)
        self.ike = ike
        self.headers += 1
        if h["uid"] is None:
            ike["damaged"] = True
            raise LineError(f"unreadable header of IKE SA {h['name']}: {body[:60]!r}")
        ike["uniqueid"] = to_int(h["uid"], "IKE SA unique id")
        ike["version"] = to_int(h["version"], "IKE version")

    def _ike_detail(self, body: str) -> None:
        ike = self.ike
        if body.startswith(("local ", "remote ")):
            self._repeat(body.split(" ", 1)[0], "IKE SA", body)
            side, ident, host = _endpoint(body)
            ike[f"{side}_id"], ike[f"{side}_host"] = ident, host
            return
        if body.startswith("established "):
            self._repeat("established", "IKE SA", body)
            m = _ESTABLISHED.match(body)
            if not m:
                raise LineError(f"malformed established line: {body[:60]!r}")
            ike["established_seconds"] = to_int(m.group(1), "established time")
            return
        if ": #" in body:
            raise LineError(f"unreadable CHILD_SA header: {body[:60]!r}")
        # proposal, "queued:", "active:", "passive:" and future lines
        log.debug("swanctl: ignoring IKE detail line: %.60s", body)

    def _child_header(self, h: dict) -> None:
        name = h["name"]
        mode = null_str(h["mode"].strip())
        if mode and mode.endswith("-in-UDP"):
            mode = mode[: -len("-in-UDP")]
        self.child = new_child(name, None, null_str(h["state"].strip()), mode)
        self.ike["children"].append(self.child)
        self._child_seen = set()
        self.child["uniqueid"] = to_int(h["uid"], "CHILD_SA unique id")

    def _child_detail(self, body: str) -> None:
        child = self.child
        kind = body.split(" ", 1)[0]
        if kind in _CHILD_KEYS:
            self._repeat(kind, "CHILD_SA", body)
        if kind in ("in", "out"):
            d, b, k = _counters(body)
            child[f"bytes_{d}"] = to_int(b, f"bytes {d}")
            child[f"packets_{d}"] = to_int(k, f"packets {d}")
            return
        if kind in ("local", "remote"):
            child[f"{kind}_ts"].extend(split_ts(body[len(kind) :]))
            return
        # "installed ...", "label ..." and future lines
        log.debug("swanctl: ignoring CHILD_SA detail line: %.60s", body)

    def snapshot(self) -> SaSnapshot:
        return build_snapshot(self.ikes, lambda ike: ike["children"], self.damage)


def parse_list_sas(text: str) -> SaSnapshot:
    """Parse ``swanctl --list-sas`` text output; see the module docstring."""
    b = _Builder()
    seen = run_lines(SOURCE, text, b.line, b.skip)
    if seen and not b.headers and not b.recognized:
        what = "binary data" if looks_binary(text if isinstance(text, str) else "") else "text"
        first = b.damage.warnings[0] if b.damage.warnings else ""
        raise ParseError(
            SOURCE,
            f"no SA header in this {what}; is this the output of 'swanctl --list-sas'? ({first})",
        )
    snap = b.snapshot()
    log.debug("swanctl: %d IKE SA(s), %d line(s) skipped", len(snap.ike_sas), len(snap.warnings))
    return snap
