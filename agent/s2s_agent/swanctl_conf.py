"""Rewrite a connection's local identity in swanctl.conf (plain strongSwan, the lab).

Pure part: :func:`rewrite_local_id` finds ``connections { NAME { ... } }`` and changes

* ``local_addrs``: the entries equal to the old IP (``%any``, other addresses and host
  names are left alone);
* ``id`` in every ``local`` / ``local-*`` subsection (``auth = psk | pubkey ...``) whose
  value is the old IP;

and nothing else: every other byte (comments, order, indentation, quoting) is preserved,
because only the value spans are replaced. With ``old_ip=None`` any IP literal there is
replaced in the ``local`` ids only (convergence after a crash, when the previous IP is
unknown); ``local_addrs`` is then left alone, since behind a NAT it is the private address.

strongSwan's settings syntax as understood here (``man swanctl.conf``, ``strongswan.conf``)::

    name [: template[, template]] {      # section (may be merged with a same-named one)
        key = bare value                 # to the end of the line or a '#' comment
        key = "quoted \\"value\\""         # may span lines
        include path/*.conf              # glob, relative to the including file
    }

What cannot be edited safely is refused with :class:`SwanctlConfError` naming the reason:
the connection defined in an included file, twice, with templates that may carry its
identity, an ``include`` inside it, or a line the scanner does not understand.

I/O part: :func:`apply_local_id` writes atomically (``.bak`` kept, original mode), reloads
(``swanctl --load-all --noprompt``) and on a failed reload restores the backup, reloads
again and raises :class:`~s2s_agent.tunnelctl.LocalApplyError` with ``rolled_back=True``.
"""

from __future__ import annotations

import glob
import ipaddress
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from . import osio
from .atomic import write_atomic
from .errors import ConfigError, LocalApplyError, S2SError, StateError
from .tunnelctl import load_all

log = logging.getLogger(__name__)

DEFAULT_PATH = "/etc/swanctl/swanctl.conf"
MAX_INCLUDE_DEPTH = 8


class SwanctlConfError(ConfigError):
    """swanctl.conf cannot be read or edited safely (message says why and where)."""


@dataclass(frozen=True)
class Change:
    """One value replaced: ``key`` is the dotted path (``connections.con1.local.id``)."""

    key: str
    line: int
    old: str
    new: str


@dataclass
class _KV:
    key: str
    value: str  # unquoted
    start: int  # span of the raw value (quotes included) in the text
    end: int
    quoted: bool
    line: int


@dataclass
class _Section:
    name: str
    line: int
    refs: tuple[str, ...] = ()
    sections: list[_Section] = field(default_factory=list)
    values: list[_KV] = field(default_factory=list)
    includes: list[tuple[str, int]] = field(default_factory=list)


_NAME_STOP = set(' \t\r\n{}=#:,"')


class _Scanner:
    """Tokenises strongSwan settings text into a section tree with value spans."""

    def __init__(self, text: str, path: str):
        self.t, self.path, self.i = text, path, 0

    def line(self, pos: int | None = None) -> int:
        return self.t.count("\n", 0, self.i if pos is None else pos) + 1

    def fail(self, msg: str, pos: int | None = None) -> SwanctlConfError:
        return SwanctlConfError(f"line {self.line(pos)}: {msg}; s2s-agent cannot edit this "
                                "file safely", path=self.path)  # fmt: skip

    def skip_ws(self, newlines: bool = True) -> None:
        t = self.t
        while self.i < len(t):
            c = t[self.i]
            if c == "#":
                nl = t.find("\n", self.i)
                self.i = len(t) if nl < 0 else nl
            elif c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            else:
                return

    def name(self) -> str:
        start = self.i
        while self.i < len(self.t) and self.t[self.i] not in _NAME_STOP:
            self.i += 1
        if self.i == start:
            raise self.fail(f"unexpected {self.t[self.i]!r}")
        return self.t[start : self.i]

    def parse(self) -> _Section:
        root = _Section("", 1)
        self.body(root, top=True)
        return root

    def body(self, sec: _Section, *, top: bool) -> None:
        t = self.t
        while True:
            self.skip_ws()
            if self.i >= len(t):
                if not top:
                    raise self.fail(f"section '{sec.name}' (line {sec.line}) is never closed")
                return
            if t[self.i] == "}":
                if top:
                    raise self.fail("'}' without an open section")
                self.i += 1
                return
            pos = self.i
            key = self.name()
            self.skip_ws(newlines=False)
            if key == "include" and self.i < len(t) and t[self.i] not in "={:":
                end = t.find("\n", self.i)
                end = len(t) if end < 0 else end
                pattern = t[self.i : end].split("#", 1)[0].strip().strip('"')
                sec.includes.append((pattern, self.line(pos)))
                self.i = end
                continue
            self.skip_ws()
            c = t[self.i] if self.i < len(t) else ""
            if c == "=":
                self.i += 1
                sec.values.append(self.value(key, pos))
            elif c in "{:":
                refs: list[str] = []
                if c == ":":
                    self.i += 1
                    while True:
                        self.skip_ws()
                        refs.append(self.name())
                        self.skip_ws()
                        if self.i < len(t) and t[self.i] == ",":
                            self.i += 1
                            continue
                        break
                    if self.i >= len(t) or t[self.i] != "{":
                        raise self.fail(f"expected '{{' after the templates of '{key}'")
                self.i += 1
                child = _Section(key, self.line(pos), tuple(refs))
                sec.sections.append(child)
                self.body(child, top=False)
            else:
                raise self.fail(f"expected '=' or '{{' after '{key}'", pos)

    def value(self, key: str, pos: int) -> _KV:
        t = self.t
        while self.i < len(t) and t[self.i] in " \t":
            self.i += 1
        line = self.line(pos)
        if self.i < len(t) and t[self.i] == '"':
            start, j, out = self.i, self.i + 1, []
            while j < len(t) and t[j] != '"':
                if t[j] == "\\" and j + 1 < len(t):
                    j += 1
                out.append(t[j])
                j += 1
            if j >= len(t):
                raise self.fail(f"unterminated quoted value of '{key}'", pos)
            self.i = j + 1
            rest_end = t.find("\n", self.i)
            rest = t[self.i : len(t) if rest_end < 0 else rest_end]
            if rest.strip() and not rest.strip().startswith("#"):
                raise self.fail(f"text after the quoted value of '{key}'", pos)
            return _KV(key, "".join(out), start, self.i, True, line)
        start = self.i
        while self.i < len(t) and t[self.i] not in "\n#":
            if t[self.i] in "{}":
                raise self.fail(f"'{t[self.i]}' in the value of '{key}' (one setting per line, "
                                "please)", pos)  # fmt: skip
            self.i += 1
        end = self.i
        while end > start and t[end - 1] in " \t\r":
            end -= 1
        return _KV(key, t[start:end], start, end, False, line)


def parse_tree(text: str, path: str = "swanctl.conf") -> _Section:
    """Parse swanctl.conf text (raises SwanctlConfError on what it cannot understand)."""
    return _Scanner(text, path).parse()


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return True


def _find_conn(root: _Section, conn: str, path: str) -> _Section | None:
    found = [c for s in root.sections if s.name == "connections" for c in s.sections
             if c.name == conn]  # fmt: skip
    if len(found) > 1:
        raise SwanctlConfError(f"connection '{conn}' is defined {len(found)} times (lines "
                               f"{', '.join(str(c.line) for c in found)}); strongSwan merges them "
                               "and s2s-agent cannot edit that safely", path=path)  # fmt: skip
    return found[0] if found else None


def _quote(value: str, quoted: bool) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' if quoted else value


def rewrite_local_id(text: str, conn: str, old_ip: str | None, new_ip: str, *,
                     path: str = "swanctl.conf") -> tuple[str, list[Change]]:  # fmt: skip
    """Return ``(new_text, changes)`` with connection ``conn``'s local IP identity moved.

    ``changes`` is empty when nothing refers to ``old_ip`` (already right, or an FQDN/keyid
    identity that the peer matches instead). Raises SwanctlConfError when the connection is
    missing, defined in a way that cannot be edited safely, or ``new_ip`` is not an IP.
    """
    if not _is_ip(new_ip):
        raise SwanctlConfError(f"new address {new_ip!r} is not an IP address", path=path)
    if old_ip is not None and not _is_ip(old_ip):
        raise SwanctlConfError(f"old address {old_ip!r} is not an IP address", path=path)
    root = parse_tree(text, path)
    sec = _find_conn(root, conn, path)
    if sec is None:
        where = [f"include {p} (line {n})" for s in [root, *root.sections] for p, n in s.includes]
        hint = f"; it may be defined in an included file ({', '.join(where)})" if where else ""
        raise SwanctlConfError(f"no connection '{conn}' in connections {{ }}{hint}", path=path)
    if sec.includes:
        p, n = sec.includes[0]
        raise SwanctlConfError(f"connection '{conn}' includes {p} (line {n}); its identity may "
                               "be set there, edit it by hand", path=path)  # fmt: skip
    locals_ = [s for s in sec.sections if s.name == "local" or s.name.startswith("local-")]
    if sec.refs and not any(kv.key == "id" for s in locals_ for kv in s.values):
        raise SwanctlConfError(f"connection '{conn}' (line {sec.line}) inherits from "
                               f"{', '.join(sec.refs)} and sets no local id itself; edit the "
                               "template by hand", path=path)  # fmt: skip

    def matches(v: str) -> bool:
        v = v.strip()
        return _is_ip(v) and (
            old_ip is None or ipaddress.ip_address(v) == ipaddress.ip_address(old_ip)
        )

    edits: list[tuple[_KV, str, str]] = []
    for kv in sec.values:
        if kv.key != "local_addrs":
            continue
        parts = kv.value.split(",")
        if old_ip is None:  # behind NAT local_addrs is the private address: never guess
            continue
        new_parts = [_swap(p, new_ip) if matches(p) else p for p in parts]
        if new_parts != parts:
            edits.append((kv, ",".join(new_parts), f"connections.{conn}.local_addrs"))
    for s in locals_:
        for kv in s.values:
            if kv.key == "id" and matches(kv.value) and kv.value.strip() != new_ip:
                edits.append((kv, _swap(kv.value, new_ip), f"connections.{conn}.{s.name}.id"))
    changes: list[Change] = []
    out = text
    for kv, value, key in sorted(edits, key=lambda e: e[0].start, reverse=True):
        if value == kv.value:
            continue
        out = out[: kv.start] + _quote(value, kv.quoted) + out[kv.end :]
        changes.append(Change(key, kv.line, kv.value, value))
    changes.reverse()
    return out, changes


def _swap(part: str, new_ip: str) -> str:
    """Replace the address in one list entry, keeping its surrounding blanks."""
    lead = part[: len(part) - len(part.lstrip())]
    trail = part[len(part.rstrip()) :]
    return f"{lead}{new_ip}{trail}"


def check_includes(path: str, conn: str, *, _depth: int = 0) -> None:
    """Refuse when ``conn`` is (also) defined in a file ``path`` includes (I/O: globbing)."""
    if _depth > MAX_INCLUDE_DEPTH:
        raise SwanctlConfError(f"includes nest deeper than {MAX_INCLUDE_DEPTH} levels", path=path)
    text = _read(path)
    root = parse_tree(text, path)
    base = os.path.dirname(os.path.abspath(path))
    for sec in [root, *root.sections]:
        for pattern, _line in sec.includes:
            full = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)
            for inc in sorted(glob.glob(full)):
                inc_root = parse_tree(_read(inc), inc)
                in_conns = sec.name == "connections" and any(
                    s.name == conn for s in inc_root.sections
                )
                if in_conns or _find_conn(inc_root, conn, inc) is not None:
                    raise SwanctlConfError(f"connection '{conn}' is defined in the included file "
                                           f"{inc}; s2s-agent edits only {path}: set "
                                           "the local id there by hand or point the agent at "
                                           "that file", path=path)  # fmt: skip
                check_includes(inc, conn, _depth=_depth + 1)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise SwanctlConfError("does not exist (strongswan swanctl.conf path)", path=path) from None
    except UnicodeDecodeError:
        raise SwanctlConfError("is not UTF-8 text", path=path) from None
    except OSError as exc:
        raise SwanctlConfError(f"cannot be read: {exc.strerror or exc}", path=path) from None


Reloader = Callable[[], object]


def apply_local_id(conn: str, old_ip: str | None, new_ip: str, *, path: str = DEFAULT_PATH,
                   swanctl: str = "swanctl", uri: str | None = None, timeout: float = 15.0,
                   runner: Callable[..., osio.Result] = osio.run,
                   reload: Reloader | None = None) -> list[Change]:  # fmt: skip
    """Rewrite ``conn``'s local IP identity in ``path`` and reload charon's config.

    No change needed → nothing written, nothing reloaded, ``[]``. A failed reload → the
    previous file is restored from ``<path>.bak``, reloaded again, and LocalApplyError
    (``rolled_back=True``) says so. ``reload`` replaces the swanctl call (tests).
    """
    check_includes(path, conn)
    text = _read(path)
    new_text, changes = rewrite_local_id(text, conn, old_ip, new_ip, path=path)
    if not changes:
        log.info("%s: connection %s already uses %s (or no IP identity)", path, conn, new_ip)
        return []
    mode = stat.S_IMODE(os.stat(path).st_mode)

    def do_reload() -> None:
        if reload is not None:
            reload()
        else:
            load_all(swanctl=swanctl, conf_file=path, uri=uri, timeout=timeout, runner=runner)

    try:
        write_atomic(path, new_text, mode=mode, backup=True)
    except StateError as exc:
        raise LocalApplyError("write", str(exc)) from None
    summary = ", ".join(f"{c.key} {c.old} -> {c.new}" for c in changes)
    try:
        do_reload()
    except S2SError as exc:
        log.error("%s: reload after %s failed: %s; restoring the previous file", path, summary, exc)
        try:
            write_atomic(path, text, mode=mode, backup=False)
            do_reload()
        except S2SError as exc2:
            raise LocalApplyError("load-all", f"{path}: reload failed ({exc}) and restoring the "
                                  f"previous file failed too ({exc2}); the saved copy is "
                                  f"{path}.bak", rolled_back=False) from None  # fmt: skip
        raise LocalApplyError("load-all", f"{path}: reload after {summary} failed ({exc}); "
                              "rolled back to the previous file and reloaded it",
                              rolled_back=True) from None  # fmt: skip
    log.info("%s: %s; configuration reloaded", path, summary)
    return changes
