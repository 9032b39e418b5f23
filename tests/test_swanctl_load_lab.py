"""tunnelctl.load_all on a real charon, run the way the agent runs it, on a machine whose
swanctl warns about missing plugins (libstrongswan-standard-plugins' files hidden).

The issue this guards: swanctl's ``plugin 'aesni': failed to load ...`` warnings made
load_all report a failed reload, so a WAN-change heal never finished on such machines.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import ensure_tunnel
from tests.lab.swanctl_samples import BAD_CONF, without_plugins

pytestmark = pytest.mark.lab

LOAD = """
import json, sys
from s2s_agent.act import tunnelctl
out = {}
try:
    res = tunnelctl.load_all(conf_file=sys.argv[1] or None)
    out["stderr"] = res.stderr
except tunnelctl.LocalApplyError as exc:
    out["error"] = str(exc)
print(json.dumps(out))
"""


def _load(lab, conf: str = "") -> dict:
    argv = without_plugins([sys.executable, "-c", LOAD, conf])
    res = lab.exec("onprem", argv, timeout=60)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_load_all_with_plugin_warnings_succeeds_and_a_refused_conn_fails(tunnel):
    ok = _load(tunnel)
    assert "error" not in ok, ok
    assert "plugin 'aesni': failed to load" in ok["stderr"]  # the warning really was there
    bad = tunnel.dir("onprem") / "bad-load.conf"
    bad.write_text(BAD_CONF)
    try:
        refused = _load(tunnel, str(bad))
        assert "loading connection 'bad1' failed: invalid value for: proposals" in refused["error"]
        assert "aesni" not in refused["error"]
    finally:
        assert "error" not in _load(tunnel)  # con1 back (the bad file unloaded it)
        ensure_tunnel(tunnel)
