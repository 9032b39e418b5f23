"""The lab's WAN side: address changes, multi-WAN failover, and what Azure learns (LNGs).

Mixed into :class:`tests.lab.lab.Lab`. Terms as on pfSense:

- **WAN1** is veth ``wan0`` (address ``lab.wan_ip``); **WAN2** (``Scenario(multiwan=True)``)
  is veth ``wan2`` (``lab.wan2_ip``). ``lab.active_wan`` (``"wan1"``/``"wan2"``) is the
  gateway group's active member: the path to the Azure gateways goes through it, and every
  phase 1 sources from its address (``lab.source_ip``), as pfSense writes ``local_addrs``
  from the resolved gateway-group interface. Only ``local_addrs``: the local identifier
  (``myid_type`` address) stays what config.xml says until someone -- the agent -- changes
  it, so a failover alone leaves every phase 1 with the old WAN's identifier.
- **LNG**: what Azure believes the office's address is, per Local Network Gateway
  (``lab.lng_ips``). The azure charon's connections follow their tunnel's LNG; the fake
  Azure's gateway hook (:meth:`on_lng_change`) calls :meth:`reprogram_azure_peer`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from s2s_agent.core.osio import run

from . import topology

WAN_DEVS = {"wan1": "wan0", "wan2": "wan2"}


class WanControl:
    """WAN and LNG handling of the lab (needs the Lab's naming, config and exec helpers)."""

    wan_ip: str
    wan2_ip: str
    active_wan: str
    azure_expects: str
    lng_ips: dict[str, str]
    scenario: Any

    if TYPE_CHECKING:  # provided by Lab

        def netns(self, side: str) -> str: ...
        def dir(self, side: str) -> Any: ...
        def _write_configs(self, side: str, *, onprem_ip: str | None = None) -> None: ...
        def _save_state(self) -> None: ...
        def swanctl(self, side: str, *args: str, **kw: Any) -> Any: ...
        def ipsec(self, side: str, *args: str, **kw: Any) -> Any: ...
        def terminate_ike(self, name: str = "con1", side: str = "onprem", **kw: Any) -> Any: ...

    # ---- addresses ---------------------------------------------------------------------
    @property
    def source_ip(self) -> str:
        """The address the onprem phase 1s use now (the active WAN's)."""
        return self.wan2_ip if self.active_wan == "wan2" else self.wan_ip

    def set_wan_ip(self, new: str) -> None:
        """Move the onprem WAN1 address (ISP change); the peer routes stay on-link."""
        ns, old = self.netns("onprem"), self.wan_ip
        run(["ip", "-n", ns, "addr", "add", f"{new}/24", "dev", "wan0"], ok_codes=(0, 2))
        if old != new:
            run(["ip", "-n", ns, "addr", "del", f"{old}/24", "dev", "wan0"], ok_codes=(0, 2))
        nets = [topology.MOVE_NET]
        if self.active_wan == "wan1":  # on WAN2 the Azure path stays there
            nets.insert(0, topology.AZURE_NET)
        for net in nets:
            run(["ip", "-n", ns, "route", "replace", net, "dev", "wan0"], ok_codes=(0, 2))
        self.wan_ip = new
        self._save_state()

    # ---- gateway-group failover (multiwan) -----------------------------------------------
    def failover(self, member: str = "wan2", *, link_down: bool = True) -> None:
        """The gateway group switches to ``member``: the Azure path moves to its veth and
        every phase 1 is re-sourced from its address (pfSense's ``ipsec_configure()`` after
        rc.ipsec, at once instead of after its 15 s sleep): ``local_addrs`` only, the local
        identifier is left as it is (:meth:`resource_onprem`).

        ``link_down`` (to WAN2 only): WAN1 dies (its onprem veth end goes down, so nothing
        can leave through it). The onprem IKE SAs of the old source are deleted (their
        address is gone); initiate again, as pfSense's DPD ``restart`` would.
        """
        if not self.scenario.multiwan:
            raise ValueError("failover needs Scenario(multiwan=True)")
        if member not in WAN_DEVS:
            raise ValueError(f"unknown WAN {member!r} (use one of {sorted(WAN_DEVS)})")
        ns = self.netns("onprem")
        if member == "wan1":
            run(["ip", "-n", ns, "link", "set", "wan0", "up"])
            run(["ip", "-n", ns, "route", "replace", topology.MOVE_NET, "dev", "wan0"])
        elif link_down:
            run(["ip", "-n", ns, "link", "set", "wan0", "down"])
        dev = WAN_DEVS[member]
        run(["ip", "-n", ns, "route", "replace", topology.AZURE_NET, "dev", dev])
        self.active_wan = member
        self.resource_onprem(self.source_ip)
        for t in topology.tunnels(self.scenario):
            self.terminate_ike(t.ike, "onprem", timeout=3, force=True)
        self._save_state()

    def failback(self) -> None:
        """WAN1 is back: the group returns to its tier-1 member."""
        self.failover("wan1")

    # ---- what Azure's VPN gateways expect -----------------------------------------------
    def reprogram_azure_peer(self, new_ip: str, lng: str | None = None) -> None:
        """What an Azure LNG update does: the gateways now expect the office at ``new_ip``.

        ``lng``: only the tunnels described by that LNG (default: every LNG)."""
        names = topology.lngs(self.scenario)
        if lng is not None and lng not in names:
            raise ValueError(f"the lab has no tunnel on LNG {lng!r} (it has {names})")
        for name in [lng] if lng else names:
            self.lng_ips[name] = new_ip
        if lng in (None, topology.LNG_A):
            self.azure_expects = new_ip
        self._write_configs("azure")
        hit = [t for t in topology.tunnels(self.scenario) if lng in (None, t.lng)]
        if self.scenario.mode == "starter":
            self.ipsec("azure", "rereadsecrets")
            self.ipsec("azure", "update")
            for t in hit:
                for c in t.children:
                    self.ipsec("azure", "down", c[1], ok_codes=(0, 1))
        else:
            self.swanctl("azure", "--load-all", "--noprompt", timeout=15)
            for t in hit:
                self.terminate_ike(t.azure_ike, "azure", timeout=3, force=True)
        self._save_state()

    def on_lng_change(self, old: dict, new: dict) -> None:
        """The fake Azure's ``on_lng_change`` hook: reprogram the gateways of that LNG."""
        self.reprogram_azure_peer(new["properties"]["gatewayIpAddress"], lng=new["name"])

    def onprem_swanctl_conf(self) -> Any:
        return self.dir("onprem") / "etc" / "swanctl" / "swanctl.conf"

    def resource_onprem(self, local_ip: str) -> None:
        """What pfSense's ``ipsec_configure()`` does on a gateway-group failover: every phase
        1's ``local_addrs`` becomes the group's new source; the local identifier stays what
        the configuration says (here: what swanctl.conf holds now, the agent's last write
        included), as pfSense keeps ``myid_data`` from config.xml."""
        from . import netns

        path = self.onprem_swanctl_conf()
        text = re.sub(
            r"(?m)^(\s*local_addrs\s*=\s*)\S+[ \t]*$", rf"\g<1>{local_ip}", path.read_text()
        )
        netns.write_private(path, text)
        self.swanctl("onprem", "--load-all", "--noprompt", timeout=15)

    def reconfigure_onprem(self, local_ip: str) -> None:
        """What pfSense's ``ipsec_configure()`` does after the local identifier changed."""
        self._write_configs("onprem", onprem_ip=local_ip)
        if self.scenario.mode == "swanctl":
            self.swanctl("onprem", "--load-all", "--noprompt", timeout=15)
        else:
            self.ipsec("onprem", "rereadsecrets")
            self.ipsec("onprem", "update")
