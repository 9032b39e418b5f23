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
