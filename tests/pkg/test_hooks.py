"""The package's pfSense hooks (s2s-agent-hooks.inc) only poke the agent: one "wake" line on
its control socket, within 0.5 s in all, never an error when the agent is not there.
Under php-cli with a real Unix socket listener here; through pfSense's real
ipsec_reload_package_hook() / pkg_call_plugins() in tests/pkg/test_gateway_plugin.py."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from . import multibox
from .conftest import FILES, require_tool
from .harness import GOOD, run_harness

HOOKS = FILES / "usr/local/pkg/s2s-agent-hooks.inc"
XML = FILES / "usr/local/pkg/s2s_agent.xml"
INFO = FILES / "usr/local/share/pfSense-pkg-s2s-agent/info.xml"


class Agent:
    """A control-socket listener: records each request line, answers ``reply`` (or nothing)."""

    def __init__(self, path: Path, reply: dict | None = None):
        if reply is None:
            reply = {"version": 1, "ok": True, "data": {}}
        self.path, self.reply, self.lines = path, reply, []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.lines.append(json.loads(data.decode().strip() or "null"))
                if self.reply != "silent":
                    conn.sendall(json.dumps(self.reply).encode() + b"\n")
                else:
                    time.sleep(3)

    def close(self):
        with contextlib.suppress(OSError):  # ends the blocked accept(): stops listening
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def run_php(tmp_path: Path, code: str) -> tuple[dict, list[str], float]:
    php = require_tool("php")
    prepend = tmp_path / "prepend.php"
    prepend.write_text(
        "<?php\n"
        f"define('S2S_AGENT_CONTROL_SOCKET', {json.dumps(str(tmp_path / 'agent.sock'))});\n"
        f"define('S2S_AGENT_WAKE_MARK', {json.dumps(str(tmp_path / 'wake-unreachable'))});\n"
        'function log_error($m) { fwrite(STDERR, "LOG: $m\\n"); }\n'
        f"require {json.dumps(str(HOOKS))};\n"
    )
    script = tmp_path / "hook.php"
    script.write_text(f"<?php\n{code}\n")
    t0 = time.monotonic()
    r = subprocess.run(
        [php, "-d", f"auto_prepend_file={prepend}", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    logs = [ln[5:] for ln in r.stderr.splitlines() if ln.startswith("LOG: ")]
    return json.loads(r.stdout or "null"), logs, took


def test_plugin_gateway_sends_one_wake_line_to_the_agent(tmp_path):
    agent = Agent(tmp_path / "agent.sock")
    try:
        out, logs, _ = run_php(
            tmp_path,
            "s2s_agent_plugin_gateway(['type' => 'gateway', 'name' => 'WAN1GW',"
            " 'event' => 'gateway.down', 'interface' => 'igb0']);"
            "echo json_encode(s2s_agent_wake('x'));",
        )
    finally:
        agent.close()
    assert agent.lines[0] == {"version": 1, "command": "wake", "reason": "gateway.down WAN1GW"}
    assert out is True and logs == []


def test_ipsec_reload_wakes_the_agent_unless_apply_myid_is_applying(tmp_path):
    agent = Agent(tmp_path / "agent.sock")
    try:
        run_php(tmp_path, "s2s_agent_ipsec_reload();")
        run_php(tmp_path, "$GLOBALS['s2s_agent_applying'] = true; s2s_agent_ipsec_reload();")
    finally:
        agent.close()
    assert agent.lines == [{"version": 1, "command": "wake", "reason": "ipsec.reload"}]


def test_no_agent_is_logged_once_until_it_answers_again(tmp_path):
    code = "echo json_encode(s2s_agent_wake('gateway.up WAN1GW'));"
    out, logs, _ = run_php(tmp_path, code)  # no socket at all
    assert out is False and len(logs) == 1
    assert "could not wake the agent" in logs[0] and "next poll" in logs[0]
    out, logs, _ = run_php(tmp_path, code)
    assert out is False and logs == []  # once, not per gateway event
    agent = Agent(tmp_path / "agent.sock")
    try:
        out, logs, _ = run_php(tmp_path, code)
    finally:
        agent.close()
    assert out is True and not (tmp_path / "wake-unreachable").exists()
    out, logs, _ = run_php(tmp_path, code)  # stale socket file, nobody listening
    assert out is False and len(logs) == 1


def test_an_agent_that_refuses_is_reported_once(tmp_path):
    agent = Agent(tmp_path / "agent.sock", {"version": 1, "ok": False, "error": "unknown command"})
    try:
        out, logs, _ = run_php(tmp_path, "echo json_encode(s2s_agent_wake('ipsec.reload'));")
    finally:
        agent.close()
    assert out is False and "unknown command" in logs[0]


def test_a_silent_agent_never_holds_pfsense_past_the_deadline(tmp_path):
    """An agent that reads the line but never answers: the hook returns at its 0.5 s
    deadline (the request was delivered, so it is not a failure)."""
    agent = Agent(tmp_path / "agent.sock", "silent")  # type: ignore[arg-type]
    try:
        out, logs, took = run_php(tmp_path, "echo json_encode(s2s_agent_wake('ipsec.reload'));")
    finally:
        agent.close()
    assert out is True and logs == [] and agent.lines[0]["command"] == "wake"
    assert took < 2.5  # php startup + the 0.5 s deadline, far below the agent's 3 s


def test_plugin_gateway_and_ipsec_reload_are_registered():
    """pkg_call_plugins() calls <configurationfile minus .xml>_plugin_gateway: the
    configurationfile has no "-", so that is s2s_agent_plugin_gateway (the real call through
    pfSense's gateway evaluation: test_gateway_plugin.py)."""
    conf = ET.parse(INFO).getroot().findtext("package/configurationfile")
    assert conf == "s2s_agent.xml" and XML.name == conf
    root = ET.parse(XML).getroot()
    assert [t.text for t in root.findall("plugins/item/type")] == ["plugin_gateway"]
    assert root.findtext("ipsec_reload_function") == "s2s_agent_ipsec_reload"


def test_plugin_gateway_reruns_the_resync_only_when_gateways_changed(tmp_path):
    """The digest of <gateways> + phase 1 interfaces the last resync wrote: unchanged -> the
    hook only wakes; a gateway group edited since -> the hook reruns the resync (the YAML is
    written again, with the group's members as they are now)."""
    box = {"gateways": multibox.BOX["gateways"], "interfaces": multibox.BOX["interfaces"]}
    code = """(function () {
        $yaml = S2S_AGENT_CONF;
        s2s_agent_resync();
        $first = trim(file_get_contents(S2S_AGENT_GW_DIGEST));
        unlink($yaml);
        s2s_agent_plugin_gateway(array('event' => 'gateway.down', 'name' => 'WAN1GW'));
        $unchanged = file_exists($yaml);
        config_set_path('gateways/gateway_group/0/item', array('WAN2GW|1|', 'WAN1GW|2|'));
        s2s_agent_plugin_gateway(array('event' => 'gateway.up', 'name' => 'WAN1GW'));
        return array('first' => $first, 'unchanged_rewrote' => $unchanged,
            'edited_rewrote' => file_exists($yaml),
            'digest' => trim(file_get_contents(S2S_AGENT_GW_DIGEST)),
            'now' => s2s_agent_gateways_digest());
    })()"""
    out = run_harness(tmp_path, "eval", {**GOOD}, code, extra=box)["result"]
    assert len(out["first"]) == 64 and out["unchanged_rewrote"] is False
    assert out["edited_rewrote"] is True and out["digest"] == out["now"] != out["first"]
    assert (tmp_path / "wake-unreachable").exists()  # no agent: logged once, no error


def test_plugin_gateway_does_nothing_more_while_disabled(tmp_path):
    code = """(function () {
        s2s_agent_resync();
        s2s_agent_plugin_gateway(array('event' => 'gateway.down', 'name' => 'WAN1GW'));
        return array(file_exists(S2S_AGENT_GW_DIGEST), file_exists(S2S_AGENT_CONF));
    })()"""
    out = run_harness(tmp_path, "eval", {**GOOD, "enable": ""}, code)["result"]
    assert out == [False, False]
