"""Open the agent's address-change socket inside a network namespace (unit and lab tests)."""

from __future__ import annotations

import socket
import subprocess
import sys

from s2s_agent.observe.wanwatch import AddressEvents

CHILD = """
import socket, sys
from s2s_agent.observe.wanwatch import AddressEvents
ev = AddressEvents.open(sys.argv[2])
out = socket.socket(fileno=int(sys.argv[1]))
socket.send_fds(out, [b"ok"], [ev.fileno()])
"""


def events_in_netns(enter: list[str], interface: str | None, popen=subprocess.Popen):
    """Open AddressEvents inside a namespace (``enter`` = command prefix) and return it here.

    A netlink socket stays bound to the namespace it was created in, so the fd handed back
    over SCM_RIGHTS watches that namespace from this process.
    """
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with parent, child:
        argv = [*enter, sys.executable, "-c", CHILD, str(child.fileno()), interface or "*"]
        proc = popen(argv, pass_fds=[child.fileno()])
        child.close()
        parent.settimeout(10)
        _, fds, _, _ = socket.recv_fds(parent, 16, 1)
        proc.wait(10)
    assert fds, "the helper did not send the event socket"
    return AddressEvents(socket.socket(fileno=fds[0]), interface, "netlink")
