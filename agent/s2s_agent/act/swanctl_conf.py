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

The I/O part (write, reload, roll back, converge with what charon loaded) is
:mod:`.swanctl_apply`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from ..core.errors import ConfigError

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
_EOL = re.compile(r"\r\n?|\n")


class _Scanner:
    """Tokenises strongSwan settings text into a section tree with value spans."""

    def __init__(self, text: str, path: str):
        self.t, self.path, self.i = text, path, 0

    def line(self, pos: int | None = None) -> int:
        end = self.i if pos is None else pos
        return len(_EOL.findall(self.t, 0, end)) + 1

    def eol(self, pos: int) -> int:
        """Index of the next line end (LF, CRLF or a lone CR) at or after ``pos``."""
        m = _EOL.search(self.t, pos)
        return m.start() if m else len(self.t)

    def fail(self, msg: str, pos: int | None = None) -> SwanctlConfError:
        return SwanctlConfError(
            f"line {self.line(pos)}: {msg}; s2s-agent cannot edit this file safely", path=self.path
        )

    def skip_ws(self, newlines: bool = True) -> None:
        t = self.t
        while self.i < len(t):
            c = t[self.i]
            if c == "#":
                self.i = self.eol(self.i)
            elif c in " \t" or (newlines and c in "\r\n"):
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
                end = self.eol(self.i)
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
            rest = t[self.i : self.eol(self.i)]
            if rest.strip() and not rest.strip().startswith("#"):
                raise self.fail(f"text after the quoted value of '{key}'", pos)
            return _KV(key, "".join(out), start, self.i, True, line)
        start = self.i
        while self.i < len(t) and t[self.i] not in "\r\n#":
            if t[self.i] in "{}":
                raise self.fail(
                    f"'{t[self.i]}' in the value of '{key}' (one setting per line, please)", pos
                )
            self.i += 1
        end = self.i
        while end > start and t[end - 1] in " \t\r":
            end -= 1
        return _KV(key, t[start:end], start, end, False, line)


def parse_tree(text: str, path: str = "swanctl.conf") -> _Section:
    """Parse swanctl.conf text (raises SwanctlConfError on what it cannot understand)."""
    return _Scanner(text, path).parse()


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return True


def find_conn(root: _Section, conn: str, path: str) -> _Section | None:
    found = [
        c for s in root.sections if s.name == "connections" for c in s.sections if c.name == conn
    ]
    if len(found) > 1:
        raise SwanctlConfError(
            f"connection '{conn}' is defined {len(found)} times (lines "
            f"{', '.join(str(c.line) for c in found)}); strongSwan merges them "
            "and s2s-agent cannot edit that safely",
            path=path,
        )
    return found[0] if found else None


def _quote(value: str, quoted: bool) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' if quoted else value


def rewrite_local_id(
    text: str, conn: str, old_ip: str | None, new_ip: str, *, path: str = "swanctl.conf"
) -> tuple[str, list[Change]]:
    """Return ``(new_text, changes)`` with connection ``conn``'s local IP identity moved.

    ``changes`` is empty when nothing refers to ``old_ip`` (already right, or an FQDN/keyid
    identity that the peer matches instead). Raises SwanctlConfError when the connection is
    missing, defined in a way that cannot be edited safely, or ``new_ip`` is not an IP.
    """
    if not is_ip(new_ip):
        raise SwanctlConfError(f"new address {new_ip!r} is not an IP address", path=path)
    if old_ip is not None and not is_ip(old_ip):
        raise SwanctlConfError(f"old address {old_ip!r} is not an IP address", path=path)
    root = parse_tree(text, path)
    sec = find_conn(root, conn, path)
    if sec is None:
        where = [f"include {p} (line {n})" for s in [root, *root.sections] for p, n in s.includes]
        hint = f"; it may be defined in an included file ({', '.join(where)})" if where else ""
        raise SwanctlConfError(f"no connection '{conn}' in connections {{ }}{hint}", path=path)
    if sec.includes:
        p, n = sec.includes[0]
        raise SwanctlConfError(
            f"connection '{conn}' includes {p} (line {n}); its identity may "
            "be set there, edit it by hand",
            path=path,
        )
    locals_ = [s for s in sec.sections if s.name == "local" or s.name.startswith("local-")]
    if sec.refs and not any(kv.key == "id" for s in locals_ for kv in s.values):
        raise SwanctlConfError(
            f"connection '{conn}' (line {sec.line}) inherits from "
            f"{', '.join(sec.refs)} and sets no local id itself; edit the "
            "template by hand",
            path=path,
        )

    def matches(v: str) -> bool:
        v = v.strip()
        return is_ip(v) and (
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
