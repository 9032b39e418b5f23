"""Re-apply the local IKE identity ("My identifier") for a new WAN IP, the right way per host.

* ``pfsense``: pfSense generates swanctl.conf from config.xml, so never edit it: plan from
  config.xml (:mod:`.pfsense`), then run the package's PHP helper, which changes the phase 1
  through pfSense's config API (``write_config`` + ``ipsec_configure``), or, when its config
  needs no change ("My IP address"), regenerates IPsec only if charon's loaded source is
  stale (``--refresh``: a gateway-group failover).
* ``swanctl``: plain strongSwan (and the lab): rewrite the connection's ``local { id }``
  (and a pinned ``local_addrs``) in swanctl.conf atomically and reload; a failed reload
  restores the backup; a file already right but not loaded by charon (a crash between the
  write and the reload) is reloaded (:mod:`.swanctl_apply`).
* ``none``: the identity does not follow the WAN IP (e.g. an FQDN id): nothing to do.

``auto`` picks ``pfsense`` when the ``pfsense`` section is configured, else ``swanctl`` when
``remediation.swanctl_conf`` exists, else ``none``.
"""

from __future__ import annotations

import logging
import os

from ..config import Config, TunnelSettings

log = logging.getLogger(__name__)


def backend(cfg: Config) -> str:
    choice = cfg.remediation.local_backend
    if choice != "auto":
        return choice
    if cfg.pfsense is not None:
        return "pfsense"
    if os.path.exists(cfg.remediation.swanctl_conf):
        return "swanctl"
    return "none"


def apply_local_identity(
    cfg: Config, tunnel: TunnelSettings, old_ip: str | None, new_ip: str
) -> str:
    """Make the local identity ``new_ip``; returns what was done (raises S2SError)."""
    kind = backend(cfg)
    if kind == "pfsense":
        from . import pfsense

        try:  # also refreshes charon for "My IP address" (a gateway-group failover)
            return pfsense.apply_tunnel_myids(cfg.pfsense, [(tunnel.name, None, new_ip)])
        except pfsense.PhaseOneErrors as exc:
            raise next(iter(exc.failed.values())) from None
    if kind == "swanctl":
        from . import swanctl_apply, tunnelctl

        path, sock = cfg.remediation.swanctl_conf, cfg.strongswan.vici_socket
        changes = swanctl_apply.apply_local_id(
            tunnel.ike,
            old_ip,
            new_ip,
            path=path,
            swanctl=cfg.strongswan.swanctl,
            loaded_ids=lambda: tunnelctl.conn_local_ids(tunnel.ike, socket_path=sock),
        )
        if not changes:
            return f"{path}: {tunnel.ike} already uses {new_ip}"
        return (
            f"{path}: " + ", ".join(f"{c.key} {c.old} -> {c.new}" for c in changes) + "; reloaded"
        )
    return "local identity does not follow the WAN IP (remediation.local_backend: none)"
