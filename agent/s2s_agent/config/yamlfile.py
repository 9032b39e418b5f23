"""Read a YAML file an admin (or a hostile process) controls, with every error a ConfigError.

The file is opened without blocking and must be a regular file
(:func:`~s2s_agent.core.atomic.read_regular`), at most ``max_bytes``. ``[``/``{`` nesting deeper
than ``max_depth`` is refused before PyYAML sees the text: its parser recurses per level
(RecursionError past ~1,000) and takes seconds per level well before that. Whatever else
PyYAML raises (a timestamp out of range ...) becomes a ConfigError naming the file.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..core.atomic import NotRegularFileError, read_regular
from ..core.errors import ConfigError


def read_yaml(path: str, max_bytes: int, max_depth: int) -> Any:
    try:
        text = read_regular(path, max_bytes).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "file not found; copy etc/s2s-agent.yaml.sample there or pass -c FILE", path=path
        ) from None
    except NotRegularFileError as exc:
        raise ConfigError(f"cannot read: it {exc.strerror}", path=path) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path; UnicodeDecodeError
        raise ConfigError(
            f"cannot read: {getattr(exc, 'strerror', None) or exc}", path=path
        ) from None
    depth = _flow_depth(text)
    if depth > max_depth:
        raise ConfigError(
            f"not usable YAML: [ ] / {{ }} nested too deeply ({depth} levels)", path=path
        )
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"not valid YAML{where}: {problem}", path=path) from None
    except RecursionError:
        raise ConfigError("not usable YAML: nested too deeply", path=path) from None
    except Exception as exc:  # e.g. a timestamp out of range: the YAML parsed, the value did not
        raise ConfigError(f"not usable YAML: {type(exc).__name__}: {exc}", path=path) from None


def _flow_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting outside quotes and comments (linear, approximate:
    good enough to refuse a hostile document before the recursive parser sees it)."""
    depth = deepest = 0
    quote = ""
    comment = False
    prev = "\n"
    for ch in text:
        if comment:
            comment = ch != "\n"
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'" and prev in " \t\n[{,:":
            quote = ch
        elif ch == "#" and prev in " \t\n":
            comment = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
        prev = ch
    return deepest
