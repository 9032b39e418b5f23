"""Parse the answer of the package's ``resolve-src.php`` helper (pure, no I/O).

The helper asks pfSense itself where each phase 1 sources from now (``get_failover_interface``
+ ``ipsec_get_phase1_src``: for a gateway group, the active member's interface or VIP), so the
agent follows a failover exactly as ``ipsec_configure`` does. Command::

    /usr/local/bin/php /usr/local/libexec/s2s-agent/resolve-src.php IKEID [IKEID ...]

Exit 0 and one JSON line on stdout::

    {"version": 1, "phase1": [
      {"ikeid": 1, "interface": "WAN_FAILOVER", "kind": "gateway_group",
       "group": "WAN_FAILOVER", "realif": "igb1", "address": "100.64.0.2",
       "gateway": "WAN2GW", "tier": 2, "vip": null, "carp": null, "error": null}, ...]}

Schema of one entry (what :func:`parse_resolve_src` returns, as :class:`Phase1Source`):

- ``ikeid`` int >= 1; ``interface`` str: the phase 1's ``<interface>`` as in config.xml;
- ``kind``: ``interface`` | ``vip`` | ``gateway_group``; ``kind`` (and ``interface``) are
  null only in an error entry (an ikeid not in config.xml, or pfSense failed resolving it);
- ``group`` str or null (gateway_group only); ``gateway`` str or null and ``tier`` int 1-5
  or null: the active member (gateway_group only);
- ``realif`` str or null: the OS interface (``igb1``); ``vip`` str or null: the VIP's
  uniqid when the source is a VIP (or a group member's VIP);
- ``address`` IPv4 literal or null; when null, ``error`` says why (text). An IPv6 source
  (an IPv6 phase 1) is read as this entry's error (an LNG holds one IPv4 address), not as a
  broken answer;
- ``carp`` null or ``MASTER`` / ``BACKUP`` / ``INIT`` (the VIP's CARP state).

Exit 1: ``{"error": "..."}`` (pfSense could not be asked); exit 2: usage (the same form).
Anything else -- not JSON, another version, a field of the wrong type, a requested ikeid
missing -- is a :class:`~s2s_agent.core.errors.ParseError` naming what was wrong.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from ...core.errors import ParseError

SOURCE = "resolve-src.php"
KINDS = ("interface", "vip", "gateway_group")
CARP_STATES = ("MASTER", "BACKUP", "INIT")
MAX_TEXT = 256


@dataclass(frozen=True)
class Phase1Source:
    ikeid: int
    interface: str
    kind: str
    group: str | None
    realif: str | None
    address: str | None
    gateway: str | None
    tier: int | None
    vip: str | None
    carp: str | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _last_json(text: str) -> Any:
    """The last line that is a JSON object (PHP notices may precede it)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                raise ParseError(SOURCE, f"not JSON: {line[:120]!r}") from None
    raise ParseError(SOURCE, "no JSON object in the output" + (f": {text[:120]!r}" if text else ""))


def _text(entry: dict, key: str, n: int, *, nullable: bool = True) -> str | None:
    value = entry.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        what = "a non-empty string" + (" or null" if nullable else "")
        raise ParseError(SOURCE, f"phase1[{n}].{key} must be {what}, got {value!r:.80}")
    return value


def _entry(entry: Any, n: int) -> Phase1Source:
    if not isinstance(entry, dict):
        raise ParseError(SOURCE, f"phase1[{n}] is not an object")
    ikeid = entry.get("ikeid")
    if isinstance(ikeid, bool) or not isinstance(ikeid, int) or ikeid < 1:
        raise ParseError(SOURCE, f"phase1[{n}].ikeid must be an integer >= 1, got {ikeid!r:.40}")
    kind = entry.get("kind")
    if kind not in KINDS and not (kind is None and entry.get("address") is None):
        raise ParseError(SOURCE, f"phase1[{n}].kind must be one of {KINDS}, got {kind!r:.40}")
    tier = entry.get("tier")
    if tier is not None and (isinstance(tier, bool) or not isinstance(tier, int)):
        raise ParseError(SOURCE, f"phase1[{n}].tier must be an integer or null, got {tier!r:.40}")
    carp = entry.get("carp")
    if carp is not None and carp not in CARP_STATES:
        raise ParseError(
            SOURCE, f"phase1[{n}].carp must be null or one of {CARP_STATES}, got {carp!r:.40}"
        )
    address = _text(entry, "address", n)
    error = _text(entry, "error", n)
    if address is not None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise ParseError(
                SOURCE, f"phase1[{n}].address must be an IPv4 literal, got {address!r:.60}"
            ) from None
        if ip.version == 6:
            address, error = (
                None,
                (f"phase 1 {ikeid} sources from IPv6 {ip}: an Azure LNG holds an IPv4 address"),
            )
    elif error is None:
        raise ParseError(SOURCE, f"phase1[{n}] has neither an address nor an error")
    return Phase1Source(
        ikeid=ikeid,
        interface=_text(entry, "interface", n, nullable=kind is None) or "",
        kind=kind or "",
        group=_text(entry, "group", n),
        realif=_text(entry, "realif", n),
        address=address,
        gateway=_text(entry, "gateway", n),
        tier=tier,
        vip=_text(entry, "vip", n),
        carp=carp,
        error=error,
    )


def parse_resolve_src(
    stdout: str, returncode: int = 0, ikeids: tuple[int, ...] = ()
) -> dict[int, Phase1Source]:
    """ikeid -> its resolved source; ParseError for an error answer or a malformed one."""
    doc = _last_json(stdout)
    if not isinstance(doc, dict):
        raise ParseError(SOURCE, "the answer is not a JSON object")
    if returncode != 0 or "error" in doc:
        why = doc.get("error")
        why = why[:MAX_TEXT] if isinstance(why, str) else "no reason given"
        what = "refused its arguments" if returncode == 2 else "could not resolve"
        raise ParseError(SOURCE, f"the helper {what} (exit {returncode}): {why}")
    if doc.get("version") != 1:
        raise ParseError(SOURCE, f"unknown version {doc.get('version')!r:.20} (expected 1)")
    entries = doc.get("phase1")
    if not isinstance(entries, list):
        raise ParseError(SOURCE, "phase1 must be a list")
    out = {}
    for n, raw in enumerate(entries):
        e = _entry(raw, n)
        out[e.ikeid] = e
    missing = [i for i in ikeids if i not in out]
    if missing:
        raise ParseError(SOURCE, f"no answer for phase 1 ikeid {', '.join(map(str, missing))}")
    return out
