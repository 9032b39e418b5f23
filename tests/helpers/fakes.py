"""Stand-ins for the Azure worker process (the real one runs in the lab and pkg tests)."""

from s2s_agent.act.azureworker import AzureCallError


class FakeWorker:
    """Plays the Azure worker: an LNG with an IP, optional failures."""

    def __init__(self, ip="198.51.100.2"):
        self.ip = ip
        self.fail = 0
        self.calls = []
        self.writes = 0

    def call(self, op, arg=None, *, deadline=120.0):
        self.calls.append((op, arg))
        if self.fail:
            self.fail -= 1
            raise AzureCallError(
                "AzureError", "Azure answered 500 InternalServerError (retries exhausted)"
            )
        if op == "get-lng":
            return {"ip": self.ip}
        if op == "update-lng":
            old, changed = self.ip, self.ip != arg
            self.ip = arg
            self.writes += changed
            return {"changed": changed, "old_ip": old, "new_ip": arg, "seconds": 0.1}
        return {}


# One tunnel with remediation on (limit 3 writes/hour, no local backend): the config of the
# executor and planner-purity tests.
REMEDIATION_CFG = """
tunnels: [{name: hq, ike: con1}]
azure:
  tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
  client_id: 11111111-2222-3333-4444-555555555555
  client_secret_file: /nonexistent/secret
  subscription_id: 00000000-1111-2222-3333-444444444444
  resource_group: rg-vpn
  local_network_gateway: lng-office
wan: {source: interface, interface: wan0}
remediation: {enabled: true, max_azure_writes_per_hour: 3, local_backend: none}
"""
