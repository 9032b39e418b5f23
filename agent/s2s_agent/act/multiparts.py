"""Parts of the multi-tunnel executor (:mod:`.multiexec`): the tunnels grouped by LNG, the
single-tunnel view of one LNG, a step failure's text, the Azure stand-in of tunnel steps,
and the local apply of a batch of tunnels (one write for all of them)."""

from __future__ import annotations

import logging
from dataclasses import replace

from ..config import Config, TunnelSettings
from ..core.errors import S2SError
from ..decide.multiplan import LngKey
from .pfsense import apply_tunnel_myids
from .swanctl_conf import is_ip

log = logging.getLogger(__name__)


def lng_groups(cfg: Config) -> dict[LngKey, tuple[TunnelSettings, ...]]:
    """The Azure tunnels grouped by LNG key, in config order."""
    out: dict[LngKey, list[TunnelSettings]] = {}
    for t in cfg.azure_tunnels():
        assert t.azure is not None
        out.setdefault(t.azure.lng_key, []).append(t)
    return {k: tuple(v) for k, v in out.items()}


def lng_config(cfg: Config, tunnels: tuple[TunnelSettings, ...]) -> Config:
    """The single-tunnel view of one LNG (its first tunnel, its target, its phase 1)."""
    first = tunnels[0]
    pf = cfg.pfsense
    if pf is not None and first.ikeid is not None:
        pf = replace(pf, ikeid=first.ikeid, descr=None)
    rem = replace(cfg.remediation, tunnel=first.name)
    return replace(cfg, azure=first.azure, remediation=rem, pfsense=pf)


def tunnel_id(known: str | None, sa_id: str | None) -> str | None:
    """The address a tunnel's local id holds: the memory's (``known``), or when that is not
    known, its IKE SA's local identity (an FQDN or key id: nothing to re-apply, "=")."""
    if known is not None or not sa_id:
        return known
    return sa_id.strip() if is_ip(sa_id) else "="


def failure_text(exc: Exception) -> str:
    """A step's failure text: the error's own message, or a bug's type and message."""
    if isinstance(exc, S2SError):
        return str(exc)
    log.error("remediation step failed unexpectedly", exc_info=exc)
    return f"internal error: {type(exc).__name__}: {exc}"


class NoAzure:
    """The tunnel steps never call Azure."""

    def call(self, op, arg=None, *, deadline=0.0):
        raise S2SError(f"internal: tunnel step asked Azure for {op}")


def apply_local_ids(cfg: Config, items: list[tuple[TunnelSettings, str | None, str]]) -> str:
    """Re-apply the local id of each ``(tunnel, old address, new address)`` in one write:
    swanctl: one file write and one reload; pfSense: one apply-myid run for every phase 1
    (:class:`~.pfsense.PhaseOneErrors` names the phase 1s that failed alone); otherwise
    tunnel by tunnel."""
    from . import localapply

    if localapply.backend(cfg) == "swanctl":
        from . import swanctl_apply, tunnelctl

        path, sock = cfg.remediation.swanctl_conf, cfg.strongswan.vici_socket

        def ids(ike):
            return lambda: tunnelctl.conn_local_ids(ike, socket_path=sock)

        def known(ike, old, new):
            """Unknown old address: the IP id charon has loaded (never local_addrs
            guessed: behind NAT they differ, and rewrite_local_id leaves them then)."""
            if old is not None:
                return old
            try:
                loaded = ids(ike)()
            except S2SError:
                return None
            return next((i for i in loaded if is_ip(i) and i != new), None)

        changes = swanctl_apply.apply_local_ids(
            [(t.ike, known(t.ike, old, new), new, ids(t.ike)) for t, old, new in items],
            path=path,
            swanctl=cfg.strongswan.swanctl,
        )
        if not changes:
            return f"{path}: every connection already uses its address"
        return (
            f"{path}: "
            + ", ".join(f"{c.key} {c.old} -> {c.new}" for c in changes)
            + ("; reloaded once")
        )
    if localapply.backend(cfg) == "pfsense" and cfg.pfsense is not None:
        return apply_tunnel_myids(  # every phase 1 in one write_config
            cfg.pfsense, [(t.name, t.ikeid, new) for t, _old, new in items]
        )
    done = []
    for t, old, new in items:
        sub = lng_config(cfg, (t,))
        done.append(localapply.apply_local_identity(sub, t, old, new))
    return "; ".join(done)
