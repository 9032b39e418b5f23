"""Typed settings: the agent's YAML, read by one public :class:`~.reader.Reader`.

``settings`` holds :class:`Config` and the top-level sections; ``azure``, ``wan`` and
``pfsense`` parse their own sections; nothing here imports a stage above ``core``.
"""

from .azure import AzureSettings
from .pfsense import PfsenseSettings
from .reader import Reader
from .settings import (
    DEFAULT_PATH,
    FACILITY_NAMES,
    LOG_LEVELS,
    MAX_CONFIG_BYTES,
    MAX_FLOW_DEPTH,
    SOURCES,
    AgentSettings,
    AlertSettings,
    Config,
    HealthSettings,
    ProbeSettings,
    RemediationSettings,
    StrongswanSettings,
    TunnelSettings,
    load,
    parse,
)
from .wan import WanSettings

__all__ = [
    "AgentSettings",
    "AlertSettings",
    "AzureSettings",
    "Config",
    "DEFAULT_PATH",
    "FACILITY_NAMES",
    "HealthSettings",
    "LOG_LEVELS",
    "MAX_CONFIG_BYTES",
    "MAX_FLOW_DEPTH",
    "PfsenseSettings",
    "ProbeSettings",
    "Reader",
    "RemediationSettings",
    "SOURCES",
    "StrongswanSettings",
    "TunnelSettings",
    "WanSettings",
    "load",
    "parse",
]
