"""Azure settings (config section ``azure``) and the credential built from them.

Config section ``azure`` (written by the pfSense package; parsed by :func:`parse_azure`)::

    tenant_id: <GUID or domain>          subscription_id: <GUID>
    client_id: <GUID>                    resource_group: <name>
    client_secret_file: /path | null     local_network_gateway: <name>
    client_certificate_file: /path|null  connection: <name> | null
    cloud: public | usgov | china  (or AzureCloud | AzureUSGovernment | AzureChinaCloud)
    authority: https://... | null        arm_endpoint: https://... | null
    ca_bundle: /path | null

Exactly one of ``client_secret_file``/``client_certificate_file``. The file must be a regular
file owned by root with no group/other permission bits (:func:`read_private_file`). The
secret is handed to azure-identity and otherwise only kept to redact it from messages.
azure.identity is imported inside :func:`make_credential` only.
"""

from __future__ import annotations

import errno
import importlib.util
import logging
import os
import re
import stat
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError
from .reader import Reader

log = logging.getLogger(__name__)

#: cloud -> (Entra authority, ARM endpoint)
CLOUDS = {
    "public": ("https://login.microsoftonline.com", "https://management.azure.com"),
    "usgov": ("https://login.microsoftonline.us", "https://management.usgovcloudapi.net"),
    "china": ("https://login.chinacloudapi.cn", "https://management.chinacloudapi.cn"),
}
CLOUD_ALIASES = {"AzureCloud": "public", "AzureUSGovernment": "usgov", "AzureChinaCloud": "china"}
PROVIDER = "Microsoft.Network"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^(?:[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|[A-Za-z0-9.-]+)$")
_RG = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
_NAME = re.compile(r"^[A-Za-z0-9][-\w.]{0,79}$")


@dataclass(frozen=True)
class AzureSettings:
    tenant_id: str
    client_id: str
    subscription_id: str
    resource_group: str
    local_network_gateway: str
    client_secret_file: str | None = None
    client_certificate_file: str | None = None
    connection: str | None = None
    cloud: str = "public"
    authority: str = CLOUDS["public"][0]
    arm_endpoint: str = CLOUDS["public"][1]
    ca_bundle: str | None = None
    custom_authority: bool = False
    profile: str = "default"
    cred_where: str = "azure"
    """Where the credential settings were written (``azure`` or ``azure_profiles.NAME``)."""

    @property
    def lng_key(self) -> tuple[str, str, str, str]:
        """The LNG's identity: (cloud, subscription, resource group, LNG), case-insensitive
        as ARM ids are."""
        return (
            self.cloud,
            self.subscription_id.lower(),
            self.resource_group.lower(),
            self.local_network_gateway.lower(),
        )

    @property
    def credential_file(self) -> str:
        return self.client_secret_file or self.client_certificate_file or "?"

    @property
    def scope(self) -> str:
        """The token scope: the cloud's ARM audience (an ``arm_endpoint`` override for tests
        keeps the cloud's audience)."""
        return CLOUDS[self.cloud][1] + "/.default"

    def resource_id(self, rtype: str, name: str) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{PROVIDER}/{rtype}/{name}"
        )

    @property
    def lng_id(self) -> str:
        return self.resource_id("localNetworkGateways", self.local_network_gateway)

    @property
    def connection_id(self) -> str | None:
        return self.resource_id("connections", self.connection) if self.connection else None


def parse_azure(data: dict | None, path: str) -> AzureSettings:
    """Validate the ``azure`` section (pure); ConfigError names the key (``azure.client_id``)."""
    if data is None:
        raise ConfigError("is required when remediation is enabled", path=path, key="azure")
    r = Reader(data, "azure", path)
    fields = {**read_profile(r), **read_target(r)}
    r.done()
    check_profile(r, fields)
    return AzureSettings(**fields)


def _match(r: Reader, name: str, regex: re.Pattern[str], what: str, nullable=False) -> Any:
    value = r.text(name, None if nullable else ..., nullable=nullable)
    if value is not None and not regex.match(value):
        raise r.err(name, f"must be {what}, got {value!r}")
    return value


def _url(r: Reader, name: str) -> str | None:
    value = r.text(name, None, nullable=True)
    if value is not None and not re.match(r"^https://[^/\s]+/?$", value):
        raise r.err(name, f"must be an https:// URL without a path, got {value!r}")
    return value.rstrip("/") if value else None


def _abs(r: Reader, name: str) -> str | None:
    value = r.text(name, None, nullable=True)
    if value is not None and not os.path.isabs(value):
        raise r.err(name, f"must be an absolute path, got {value!r}")
    return value


def read_profile(r: Reader) -> dict[str, Any]:
    """The credential half of an Azure section (an ``azure_profiles`` entry, or ``azure``)."""
    tenant = _match(r, "tenant_id", _TENANT, "a tenant GUID or domain")
    client = _match(r, "client_id", _GUID, "the application (client) GUID")
    secret, cert = _abs(r, "client_secret_file"), _abs(r, "client_certificate_file")
    if (secret is None) == (cert is None):
        raise r.err(
            "client_secret_file", "set exactly one of client_secret_file, client_certificate_file"
        )
    cloud = r.text("cloud", "public")
    cloud = CLOUD_ALIASES.get(cloud, cloud)
    if cloud not in CLOUDS:
        choices = ", ".join([*CLOUDS, *CLOUD_ALIASES])
        raise r.err("cloud", f"must be one of {choices}; got {cloud!r}")
    authority, arm = _url(r, "authority"), _url(r, "arm_endpoint")
    return {
        "tenant_id": tenant,
        "client_id": client,
        "client_secret_file": secret,
        "client_certificate_file": cert,
        "cloud": cloud,
        "authority": authority or CLOUDS[cloud][0],
        "arm_endpoint": arm or CLOUDS[cloud][1],
        "ca_bundle": _abs(r, "ca_bundle"),
        "custom_authority": authority is not None,
        "cred_where": r.where,
    }


def check_profile(r: Reader, fields: dict[str, Any]) -> None:
    """Checks of a profile that need the host (after the unknown-key check)."""
    if fields["client_certificate_file"] is not None and (missing := missing_for_certificate()):
        raise r.err("client_certificate_file", missing)


def read_target(r: Reader) -> dict[str, Any]:
    """The target half: which LNG (and connection) in which subscription and resource group."""
    return {
        "subscription_id": _match(r, "subscription_id", _GUID, "a subscription GUID"),
        "resource_group": _match(r, "resource_group", _RG, "a resource group name"),
        "local_network_gateway": _match(
            r, "local_network_gateway", _NAME, "a local network gateway name"
        ),
        "connection": _match(r, "connection", _NAME, "a connection name", nullable=True),
    }


CRYPTOGRAPHY_PKG = "py311-cryptography"
CRYPTOGRAPHY_ORIGIN = "security/py-cryptography"


def have_cryptography() -> bool:
    """True when ``cryptography`` is importable (azure-identity can then be used)."""
    try:
        return importlib.util.find_spec("cryptography") is not None
    except (ImportError, ValueError):
        return False


def missing_for_certificate() -> str | None:
    """None when certificate authentication can work here, else what is missing and the fix."""
    if have_cryptography():
        return None
    return (
        "certificate authentication needs the Python module cryptography, which is not "
        f"installed: install the FreeBSD package {CRYPTOGRAPHY_PKG} ({CRYPTOGRAPHY_ORIGIN}), "
        "e.g. `pkg install py311-cryptography` where your package repository has it, or "
        "use a client secret (client_secret_file) instead"
    )


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
CRED_KEY = "azure.client_secret_file or azure.client_certificate_file"


def read_private_file(path: str, *, owner_uid: int = 0, key: str = CRED_KEY) -> bytes:
    """Read a credential file that must be a regular file (not a symlink) owned by
    ``owner_uid``, mode 0600 (no group/other bits). ConfigError names the file, what is
    wrong and the fix. Opened with ``O_NONBLOCK``: a FIFO in its place is refused at once
    instead of blocking until someone writes to it."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise ConfigError(
                f"credential file {path} is a symlink, refused: point the setting "
                f"at the file itself ({os.path.realpath(path)})",
                key=key,
            ) from None
        raise ConfigError(f"cannot open credential file {path}: {exc.strerror}", key=key) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
            raise ConfigError(f"credential file {path} is {kind}, not a regular file", key=key)
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid != owner_uid:
            raise ConfigError(
                f"credential file {path} is owned by uid {st.st_uid}, must be uid {owner_uid}: "
                f"chown {owner_uid} {path} && chmod 600 {path}",
                key=key,
            )
        if mode & 0o077:
            raise ConfigError(
                f"credential file {path} has mode {mode:04o} (group/other may read it), "
                f"refused: chmod 600 {path}",
                key=key,
            )
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_credential(settings: AzureSettings, *, owner_uid: int = 0) -> bytes:
    """The credential file's content, checked with every rule of its use (the same call at
    ``validate-config``, daemon start, reload and in the Azure worker)."""
    path = settings.client_secret_file or settings.client_certificate_file
    assert path is not None
    where = settings.cred_where
    key = f"{where}.client_secret_file or {where}.client_certificate_file"
    raw = read_private_file(path, owner_uid=owner_uid, key=key)
    if settings.client_secret_file:
        if not raw.decode("utf-8", "replace").strip():
            raise ConfigError(
                f"credential file {path} is empty: write the client secret's value into it",
                key=f"{where}.client_secret_file",
            )
    elif b"-----BEGIN" not in raw or b"PRIVATE KEY-----" not in raw:
        raise ConfigError(
            f"credential file {path} is not a PEM certificate with its private key",
            key=f"{where}.client_certificate_file",
        )
    return raw


def check_credential_file(cfg: Any, *, owner_uid: int = 0) -> None:
    """ConfigError when remediation is on and a credential file (of any profile a tunnel
    uses) would be refused at use."""
    if not getattr(cfg.remediation, "enabled", False):
        return
    seen: set[str] = set()
    targets = [t.azure for t in getattr(cfg, "tunnels", ()) if getattr(t, "azure", None)]
    for settings in [cfg.azure, *targets]:
        if settings is not None and settings.cred_where not in seen:
            seen.add(settings.cred_where)
            read_credential(settings, owner_uid=owner_uid)
