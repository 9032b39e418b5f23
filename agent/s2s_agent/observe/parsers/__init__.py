"""Pure parsers: tool output in, :mod:`s2s_agent.core.model` objects out, no I/O.

Every SA parser raises only :class:`~s2s_agent.core.errors.ParseError`; the log classifier
never raises. Each module's docstring holds its input formats and output schema.
"""

from .charonlog import classify_line, parse_log
from .statusall import parse_statusall
from .swanctl import parse_list_sas
from .vici_sas import parse_vici_sas

__all__ = [
    "classify_line",
    "parse_list_sas",
    "parse_log",
    "parse_statusall",
    "parse_vici_sas",
]
