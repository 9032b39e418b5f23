"""Parser for the replies of VICI ``list-sas`` (``vici.Session().list_sas()``).

Usage::

    import vici
    from s2s_agent.observe.parsers import parse_vici_sas
    snapshot = parse_vici_sas(list(vici.Session(sock).list_sas()))

Input: an iterable of mappings, one per ``list-sa`` event, each ``{ike_name: {...}}``
(a single mapping is accepted too). Values are ``bytes`` as the ``vici`` package yields
them, or ``str`` (JSON dumps of them); lists (traffic selectors) are lists of those.
Keys used, per strongSwan's ``vici_query.c`` (5.9)::

    {ike_name: {"uniqueid", "version", "state", "local-host", "remote-host",
                "local-id", "remote-id", "established",          # seconds ago
                "child-sas": {"<name>-<uniqueid>": {
                    "name", "uniqueid", "state", "mode",
                    "bytes-in", "bytes-out", "packets-in", "packets-out",  # only when
                    "local-ts": [..], "remote-ts": [..]}}}}                # INSTALLED...

Every other key is ignored. Schema (``SaSnapshot.to_dict()``)::

    {"ike_sas": [                       # in reply order
      {"name": str, "uniqueid": int|null, "state": str|null, "version": int|null,
       "local_host": str|null, "remote_host": str|null,
       "local_id": str|null, "remote_id": str|null,
       "established_seconds": int|null, # absent until ESTABLISHED
       "child_sas": [                   # in reply order
         {"name": str,                  # "name" key; else the section key minus "-<id>"
          "uniqueid": int|null, "state": str|null, "mode": str|null,
          "bytes_in": int|null, "bytes_out": int|null,
          "packets_in": int|null, "packets_out": int|null,
          "local_ts": [str], "remote_ts": [str]}]}]}

Bytes are decoded as UTF-8 (undecodable bytes replaced). ParseError (only) when the
input is not an iterable of mappings of mappings, a value has an impossible type, or a
number is not a decimal number. Errors raised while iterating a generator given as
input come from its source (e.g. the vici socket) and are not caught here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from ...core.errors import ParseError
from ...core.model import ChildSa, IkeSa, SaSnapshot
from ._common import MAX_INT_DIGITS

log = logging.getLogger(__name__)

SOURCE = "vici list-sas"


def _err(message: str) -> ParseError:
    return ParseError(SOURCE, message)


def _str(value: object, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    raise _err(f"{what}: expected a string, got {type(value).__name__}")


def _int(value: object, what: str) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    s = _str(value, what)
    if s is None:
        return None
    s = s.strip()
    if not s:
        return None
    if not (s.isascii() and s.isdigit()) or len(s) > MAX_INT_DIGITS:
        raise _err(f"{what}: not a number: {s[:40]!r}")
    return int(s)


def _ts(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, bytes | bytearray | str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise _err(f"{what}: expected a list, got {type(value).__name__}")
    out = []
    for item in value:
        s = _str(item, what)
        if s:
            out.append(s)
    return tuple(out)


def _child(key: object, data: object, ike_name: str) -> ChildSa:
    where = f"IKE SA {ike_name!r}, child {key!r}"
    if not isinstance(data, Mapping):
        raise _err(f"{where}: expected a section, got {type(data).__name__}")
    uid = _int(data.get("uniqueid"), f"{where} uniqueid")
    name = _str(data.get("name"), f"{where} name")
    if not name:
        name = _str(key, f"{where} key") or ""
        suffix = f"-{uid}"
        if uid is not None and name.endswith(suffix):
            name = name[: -len(suffix)]
    if not name:
        raise _err(f"{where}: CHILD_SA without a name")
    return ChildSa(
        name=name,
        uniqueid=uid,
        state=_str(data.get("state"), f"{where} state"),
        mode=_str(data.get("mode"), f"{where} mode"),
        bytes_in=_int(data.get("bytes-in"), f"{where} bytes-in"),
        bytes_out=_int(data.get("bytes-out"), f"{where} bytes-out"),
        packets_in=_int(data.get("packets-in"), f"{where} packets-in"),
        packets_out=_int(data.get("packets-out"), f"{where} packets-out"),
        local_ts=_ts(data.get("local-ts"), f"{where} local-ts"),
        remote_ts=_ts(data.get("remote-ts"), f"{where} remote-ts"),
    )


def _ike(name_raw: object, data: object) -> IkeSa:
    name = _str(name_raw, "IKE SA name")
    if not name:
        raise _err("IKE SA without a name")
    where = f"IKE SA {name!r}"
    if not isinstance(data, Mapping):
        raise _err(f"{where}: expected a section, got {type(data).__name__}")
    children_raw = data.get("child-sas")
    if children_raw is None:
        children_raw = {}
    if not isinstance(children_raw, Mapping):
        raise _err(f"{where}: child-sas is not a section")
    return IkeSa(
        name=name,
        uniqueid=_int(data.get("uniqueid"), f"{where} uniqueid"),
        state=_str(data.get("state"), f"{where} state"),
        version=_int(data.get("version"), f"{where} version"),
        local_host=_str(data.get("local-host"), f"{where} local-host"),
        remote_host=_str(data.get("remote-host"), f"{where} remote-host"),
        local_id=_str(data.get("local-id"), f"{where} local-id"),
        remote_id=_str(data.get("remote-id"), f"{where} remote-id"),
        established_seconds=_int(data.get("established"), f"{where} established"),
        child_sas=tuple(_child(k, v, name) for k, v in children_raw.items()),
    )


def parse_vici_sas(replies: Iterable[Mapping] | Mapping) -> SaSnapshot:
    """Turn VICI ``list-sas`` replies into a snapshot; see the module docstring."""
    if isinstance(replies, Mapping):
        replies = [replies]
    elif isinstance(replies, str | bytes | bytearray) or not isinstance(replies, Iterable):
        raise _err(f"expected a list of replies, got {type(replies).__name__}")
    ikes = []
    for reply in replies:
        if not isinstance(reply, Mapping):
            raise _err(f"expected a reply section, got {type(reply).__name__}")
        for name, data in reply.items():
            ikes.append(_ike(name, data))
    log.debug("vici: %d IKE SA(s)", len(ikes))
    return SaSnapshot(tuple(ikes))
