"""A config of three tunnels on two LNGs in two subscriptions of the in-process fake Azure
(con1 + con4 active-active on LNG A with one connection, con2 on LNG B in subscription B
with its own principal), for the daemon/status tests that use the real Azure worker."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.fakeazure.tenancy import SITE_B

SUB_B = SITE_B["subscription_id"]


def secret_file(path: Path, secret: str) -> str:
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return str(path)


def two_lng_config(fake, tmp_path: Path, *, b_secret: str | None = None, **rem) -> str:
    """Write the config; ``b_secret``/``b_client`` default to site B's principal (pass
    principal A's to get 403 AuthorizationFailed on subscription B)."""
    if not any(s.names.lng_name == SITE_B["lng_name"] for s in fake.tenancy.sites):
        from tests.fakeazure import Names

        fake.add_site(Names(**SITE_B))
    site_b = fake.tenancy.site(SITE_B["lng_name"])
    sec_a = secret_file(tmp_path / "a.secret", fake.client_secret)
    sec_b = secret_file(tmp_path / "b.secret", b_secret or site_b.principal.client_secret)
    client_b = site_b.principal.client_id if b_secret is None else fake.client_id
    n = fake.names
    (tmp_path / "ipsec.log").touch()
    swanctl = tmp_path / "swanctl"
    swanctl.write_text("#!/bin/sh\nexit 0\n")
    swanctl.chmod(0o755)
    common = (
        f"tenant_id: {fake.tenant_id}, authority: '{fake.url}', arm_endpoint: '{fake.url}', "
        f"ca_bundle: {fake.ca_path}"
    )
    rem_text = ", ".join(f"{k}: {v}" for k, v in rem.items())
    text = textwrap.dedent(f"""
        agent: {{interval: 1, state_dir: {tmp_path}/state, control_socket: {tmp_path}/ctl.sock}}
        strongswan: {{source: swanctl, swanctl: {swanctl}, log_file: {tmp_path}/ipsec.log}}
        alerts: {{syslog_socket: {tmp_path}/syslog.sock}}
        azure_profiles:
          corp: {{{common}, client_id: {fake.client_id}, client_secret_file: {sec_a}}}
          branch: {{{common}, client_id: {client_b}, client_secret_file: {sec_b}}}
        wan: {{source: interface, interface: lo, allow_private: true}}
        tunnels:
          - name: con1
            ike: con1
            azure: {{profile: corp, subscription_id: {n.subscription_id},
                     resource_group: {n.resource_group}, local_network_gateway: {n.lng_name},
                     connection: {n.connection_name}}}
          - name: con4
            ike: con4
            azure: {{profile: corp, subscription_id: {n.subscription_id},
                     resource_group: {n.resource_group}, local_network_gateway: {n.lng_name},
                     connection: {n.connection_name}}}
          - name: con2
            ike: con2
            azure: {{profile: branch, subscription_id: {SUB_B},
                     resource_group: {SITE_B["resource_group"]},
                     local_network_gateway: {SITE_B["lng_name"]},
                     connection: {SITE_B["connection_name"]}}}
        remediation: {{enabled: true, local_backend: none, {rem_text}}}
    """)
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return str(path)
