"""The one public reader of the YAML mappings: typed access that records which keys were used.

Every section parser (``settings``, ``azure``, ``wan``, ``pfsense``) reads through :class:`Reader`,
so each error names the file and the dotted key.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import ConfigError


class Reader:
    """Typed access to one mapping of the YAML, recording which keys were used."""

    def __init__(self, data: Any, where: str, path: str):
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"must be a mapping, got {type(data).__name__}", path=path, key=where)
        self.data, self.where, self.path = data, where, path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def err(self, name: str, msg: str) -> ConfigError:
        return ConfigError(msg, path=self.path, key=self.key(name))

    def get(self, name: str, kind: type | tuple, default: Any = ..., *, nullable=False) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise self.err(name, "is required")
            return default
        value = self.data[name]
        if value is None and nullable:
            return None
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:
                raise self.err(name, f"is far too large ({len(str(value))} digits)") from None
        if isinstance(value, bool) and bool not in kinds:
            raise self.err(name, f"must be {_names(kinds)}, got a boolean")
        if not isinstance(value, kinds):
            raise self.err(name, f"must be {_names(kinds)}, got {value!r}")
        return value

    def text(self, name: str, default: Any = ..., *, nullable=False) -> Any:
        value = self.get(name, str, default, nullable=nullable)
        if isinstance(value, str) and not value.strip():
            raise self.err(name, "must not be empty")
        if isinstance(value, str) and any(c in value for c in "\0\n\r"):
            raise self.err(name, "must not contain a NUL byte or a line break")
        return value

    def number(self, name: str, default: Any = ..., *, minimum: float, maximum: float) -> float:
        value = self.get(name, float, default)
        if not minimum <= value <= maximum:
            raise self.err(name, f"must be between {minimum:g} and {maximum:g}, got {value:g}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.text(name, default)
        if value not in choices:
            raise self.err(name, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def sub(self, name: str, *, required: bool = False) -> Reader:
        self.used.add(name)
        if required and name not in self.data:
            raise self.err(name, "is required")
        return Reader(self.data.get(name), self.key(name), self.path)

    def done(self) -> None:
        unknown = sorted(set(map(str, self.data)) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise self.err(unknown[0], f"unknown key (known keys here: {known})")


def _names(kinds: tuple) -> str:
    words = {
        str: "a string",
        float: "a number",
        int: "an integer",
        bool: "true or false",
        list: "a list",
        dict: "a mapping",
    }
    return " or ".join(words.get(k, k.__name__) for k in kinds)
