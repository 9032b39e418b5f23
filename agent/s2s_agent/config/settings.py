"""Configuration: load ``/usr/local/etc/s2s-agent.yaml`` and validate it strictly.

Every problem raises :class:`ConfigError` naming the file and the key
(``tunnels[0].probe.source``), so ``s2s-agent validate-config`` and the daemon print one
message an admin can act on. Unknown keys are errors: a typo must not be silently ignored.
The sample with every key documented is ``etc/s2s-agent.yaml.sample``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ConfigError
from .azure import AzureSettings, parse_azure
from .pfsense import PfsenseSettings, parse_pfsense
from .reader import Reader
from .tunnels import (
    WanSource,
    join_forms,
    parse_ikeid,
    parse_profiles,
    parse_target,
    parse_wan_source,
)
from .wan import WanSettings, parse_wan

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/etc/s2s-agent.yaml"
SOURCES = ("auto", "vici", "swanctl", "statusall")
LOG_LEVELS = ("debug", "info", "warning", "error")
# RFC 5424 facility codes by name (the syslog sender and the config's validation share them).
FACILITIES: dict[str, int] = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "security": 13,
    "console": 14,
    "local0": 16,
    "local1": 17,
    "local2": 18,
    "local3": 19,
    "local4": 20,
    "local5": 21,
    "local6": 22,
    "local7": 23,
}
FACILITY_NAMES = tuple(FACILITIES)
MAX_CONFIG_BYTES = 64 * 1024
"""The sample with every key documented is ~8 KiB; PyYAML needs seconds for a few 100 KiB."""
MAX_FLOW_DEPTH = 32
"""Deeper ``[``/``{`` nesting is refused before PyYAML sees it (it recurses per level)."""
_TAG = re.compile(r"^[A-Za-z0-9._/-]{1,32}$")


@dataclass(frozen=True)
class AgentSettings:
    interval: float = 10.0
    state_dir: str = "/var/db/s2s-agent"
    control_socket: str = "/var/run/s2s-agent.sock"
    log_level: str = "info"
    metrics_textfile: str | None = None

    @property
    def state_file(self) -> str:
        return os.path.join(self.state_dir, "state.json")


@dataclass(frozen=True)
class StrongswanSettings:
    source: str = "auto"
    vici_socket: str = "/var/run/charon.vici"
    swanctl: str = "swanctl"
    ipsec: str = "ipsec"
    command_timeout: float = 10.0
    log_file: str | None = "/var/log/ipsec.log"


@dataclass(frozen=True)
class AlertSettings:
    syslog_socket: str | None = None
    facility: str = "daemon"
    tag: str = "s2s-agent"
    reminder_interval: float = 1800.0


@dataclass(frozen=True)
class HealthSettings:
    event_window: float = 300.0
    probe_loss_degraded: float = 0.2


@dataclass(frozen=True)
class ProbeSettings:
    source: str
    target: str
    count: int = 3
    timeout: float = 2.0


@dataclass(frozen=True)
class TunnelSettings:
    name: str
    ike: str
    children: tuple[str, ...]
    probe: ProbeSettings | None = None
    azure: AzureSettings | None = None  # its LNG target joined with its credential profile
    wan: WanSource | None = None  # where its local address comes from
    ikeid: int | None = None  # its pfSense phase 1


@dataclass(frozen=True)
class RemediationSettings:
    enabled: bool = False
    tunnel: str | None = None  # name of the tunnel the LNG belongs to; None = the first
    max_azure_writes_per_hour: int = 6
    reset_connection_after: float = 0.0
    backoff_base: float = 10.0
    backoff_cap: float = 900.0
    local_backend: str = "auto"  # auto | pfsense | swanctl | none
    swanctl_conf: str = "/usr/local/etc/swanctl/swanctl.conf"
    verify_timeout: float = 20.0
    azure_deadline: float = 120.0
    azure_status_interval: float = 300.0
    carp_interface: str | None = None
    carp_vhid: int | None = None


@dataclass(frozen=True)
class Config:
    path: str
    agent: AgentSettings = field(default_factory=AgentSettings)
    strongswan: StrongswanSettings = field(default_factory=StrongswanSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    tunnels: tuple[TunnelSettings, ...] = ()
    remediation: RemediationSettings = field(default_factory=RemediationSettings)
    azure: AzureSettings | None = None
    wan: WanSettings | None = None
    pfsense: PfsenseSettings | None = None
    azure_profiles: tuple[str, ...] = ()

    def azure_tunnels(self) -> tuple[TunnelSettings, ...]:
        """The tunnels with an Azure target, in config order."""
        return tuple(t for t in self.tunnels if t.azure is not None)

    def remediated_tunnel(self) -> TunnelSettings:
        name = self.remediation.tunnel
        return next((t for t in self.tunnels if t.name == name), self.tunnels[0])


def _ip(r: Reader, name: str) -> str:
    value = r.text(name)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise r.err(name, f"must be an IP address, got {value!r}") from None
    return value


def _tag(r: Reader) -> str:
    value = r.text("tag", "s2s-agent")
    if not _TAG.match(value):
        raise r.err("tag", f"must be 1-32 letters, digits or . _ - / (a syslog tag), got {value!r}")
    return value


def _abs_path(r: Reader, name: str, default: Any, *, nullable=False) -> Any:
    value = r.text(name, default, nullable=nullable)
    if value is not None and not os.path.isabs(value):
        raise r.err(name, f"must be an absolute path, got {value!r}")
    return value


def parse(data: Any, path: str = "<config>") -> Config:
    """Validate already-loaded YAML data and build a :class:`Config` (pure)."""
    top = Reader(data, "", path)
    a = top.sub("agent")
    agent = AgentSettings(
        interval=a.number("interval", 10.0, minimum=1, maximum=3600),
        state_dir=_abs_path(a, "state_dir", AgentSettings.state_dir),
        control_socket=_abs_path(a, "control_socket", AgentSettings.control_socket),
        log_level=a.choice("log_level", LOG_LEVELS, "info"),
        metrics_textfile=_abs_path(a, "metrics_textfile", None, nullable=True),
    )
    a.done()
    s = top.sub("strongswan")
    strongswan = StrongswanSettings(
        source=s.choice("source", SOURCES, "auto"),
        vici_socket=_abs_path(s, "vici_socket", StrongswanSettings.vici_socket),
        swanctl=s.text("swanctl", "swanctl"),
        ipsec=s.text("ipsec", "ipsec"),
        command_timeout=s.number("command_timeout", 10.0, minimum=0.5, maximum=300),
        log_file=_abs_path(s, "log_file", StrongswanSettings.log_file, nullable=True),
    )
    s.done()
    al = top.sub("alerts")
    alerts = AlertSettings(
        syslog_socket=_abs_path(al, "syslog_socket", None, nullable=True),
        facility=al.choice("facility", FACILITY_NAMES, "daemon"),
        tag=_tag(al),
        reminder_interval=al.number("reminder_interval", 1800.0, minimum=0, maximum=7 * 86400),
    )
    al.done()
    h = top.sub("health")
    health = HealthSettings(
        event_window=h.number("event_window", 300.0, minimum=10, maximum=86400),
        probe_loss_degraded=h.number("probe_loss_degraded", 0.2, minimum=0, maximum=1),
    )
    h.done()
    sections = {}
    for name in ("azure", "wan", "pfsense", "azure_profiles"):
        top.used.add(name)
        sections[name] = top.data.get(name)
    raw_tunnels = top.data.get("tunnels")
    multi = sections["azure_profiles"] is not None or (
        isinstance(raw_tunnels, list)
        and any(isinstance(t, dict) and t.get("azure") is not None for t in raw_tunnels)
    )
    if multi and sections["azure"] is not None:
        raise ConfigError(
            "is the single-tunnel form, but azure_profiles / tunnels[].azure (the tunnels "
            "form) are set too: move its credentials under azure_profiles and its LNG into "
            "the tunnel's azure, or remove the tunnels form",
            path=path,
            key="azure",
        )
    profiles = parse_profiles(sections["azure_profiles"], path) if multi else {}
    wan_data = sections["wan"]
    wan = parse_wan(wan_data, path, shared=multi) if wan_data is not None else None
    default_src = None
    if multi and wan is not None and {"source", "interface"} & set(wan_data):
        default_src = WanSource(wan.source, interface=wan.interface)
    tunnels = _tunnels(top, path, profiles, default_src)
    rem = _remediation(top.sub("remediation"), tunnels)
    top.done()
    azure = parse_azure(sections["azure"], path) if sections["azure"] is not None else None
    pfsense = (
        parse_pfsense(sections["pfsense"], path, multi=multi)
        if sections["pfsense"] is not None
        else None
    )
    tunnels, rem, azure, wan, pfsense = join_forms(multi, tunnels, rem, azure, wan, pfsense, path)
    if rem.enabled:
        for name, value in (("azure", azure), ("wan", wan)):
            if value is None:
                raise ConfigError(
                    "is required when remediation.enabled is true", path=path, key=name
                )
        if rem.local_backend == "pfsense" and pfsense is None:
            raise ConfigError(
                "is required when remediation.local_backend is pfsense", path=path, key="pfsense"
            )
    return Config(
        path, agent, strongswan, alerts, health, tunnels, rem, azure, wan, pfsense, tuple(profiles)
    )


def _remediation(r: Reader, tunnels: tuple[TunnelSettings, ...]) -> RemediationSettings:
    d = RemediationSettings()
    vhid = r.get("carp_vhid", int, None, nullable=True)
    if vhid is not None and not 1 <= vhid <= 255:
        raise r.err("carp_vhid", f"must be between 1 and 255, got {vhid}")
    rem = RemediationSettings(
        enabled=r.get("enabled", bool, False),
        tunnel=r.text("tunnel", None, nullable=True),
        max_azure_writes_per_hour=int(
            r.number("max_azure_writes_per_hour", 6, minimum=1, maximum=60)
        ),
        reset_connection_after=r.number("reset_connection_after", 0.0, minimum=0, maximum=86400),
        backoff_base=r.number("backoff_base", d.backoff_base, minimum=1, maximum=3600),
        backoff_cap=r.number("backoff_cap", d.backoff_cap, minimum=1, maximum=86400),
        local_backend=r.choice("local_backend", ("auto", "pfsense", "swanctl", "none"), "auto"),
        swanctl_conf=_abs_path(r, "swanctl_conf", d.swanctl_conf),
        verify_timeout=r.number("verify_timeout", d.verify_timeout, minimum=1, maximum=600),
        azure_deadline=r.number("azure_deadline", d.azure_deadline, minimum=5, maximum=3600),
        azure_status_interval=r.number(
            "azure_status_interval", d.azure_status_interval, minimum=0, maximum=86400
        ),
        carp_interface=r.text("carp_interface", None, nullable=True),
        carp_vhid=vhid,
    )
    r.done()
    if rem.tunnel is not None and all(t.name != rem.tunnel for t in tunnels):
        raise r.err(
            "tunnel", f"names no tunnel in tunnels (have: {', '.join(t.name for t in tunnels)})"
        )
    if (rem.carp_interface is None) != (rem.carp_vhid is None):
        raise r.err("carp_vhid", "carp_interface and carp_vhid go together")
    return rem


def _tunnels(
    top: Reader, path: str, profiles: dict, default_src: WanSource | None
) -> tuple[TunnelSettings, ...]:
    raw = top.get("tunnels", list)
    if not raw:
        raise top.err("tunnels", "must list at least one tunnel")
    out: list[TunnelSettings] = []
    for i, item in enumerate(raw):
        t = Reader(item, f"tunnels[{i}]", path)
        ike = t.text("ike")
        children = t.get("children", list, [ike])
        if not children or not all(isinstance(c, str) and c.strip() for c in children):
            raise t.err("children", "must be a non-empty list of CHILD_SA names")
        probe = None
        if t.data.get("probe") is not None:
            p = t.sub("probe")
            probe = ProbeSettings(
                source=_ip(p, "source"),
                target=_ip(p, "target"),
                count=int(p.number("count", 3, minimum=1, maximum=20)),
                timeout=p.number("timeout", 2.0, minimum=0.2, maximum=30),
            )
            p.done()
        else:
            t.used.add("probe")
        name = t.text("name", ike)
        azure, _ = parse_target(t, profiles, name)
        wan = parse_wan_source(t, default_src)
        ikeid = parse_ikeid(t, ike)
        tunnel = TunnelSettings(name, ike, tuple(children), probe, azure, wan, ikeid)
        t.done()
        if any(o.name == tunnel.name for o in out):
            raise t.err("name", f"duplicate tunnel name {tunnel.name!r}")
        out.append(tunnel)
    return tuple(out)


def load(path: str = DEFAULT_PATH) -> Config:
    """Read and validate the config file; ConfigError names the file and key.

    Nothing else escapes: a FIFO or device at ``path`` is refused without blocking, YAML
    nested too deeply or values Python cannot hold become ConfigError too.
    """
    from .yamlfile import read_yaml  # never blocks, refuses what PyYAML cannot take

    data = read_yaml(path, MAX_CONFIG_BYTES, MAX_FLOW_DEPTH)
    try:
        return parse(data, path)
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError("nested too deeply to be a configuration", path=path) from None
    except Exception as exc:  # a value no check foresaw: still one message, never a traceback
        log.debug("config %s: unexpected error", path, exc_info=True)
        raise ConfigError(
            f"cannot use this configuration: {type(exc).__name__}: {exc}", path=path
        ) from None
