"""A tiny BSD syslogd for the lab: what pfSense's syslogd does for ``/var/log/ipsec.log``.

Usage: ``python syslogd.py SOCKET OUTFILE [--hostname pfsense]`` (stdlib only; the lab
starts it inside the onprem namespace and bind-mounts SOCKET over ``/dev/log`` in charon's
private mount namespace).

glibc's ``syslog(3)`` sends datagrams like ``<30>Nov 26 22:47:17 charon[1234]: 09[IKE] ...``
(RFC 3164 without a hostname). Each one is written as one line
``Nov 26 22:47:17 pfsense charon[1234]: 09[IKE] ...``, flushed at once; a trailing newline
is stripped and embedded newlines are split into separate lines with the same header.

pfSense lines always carry the sender's pid (``charon[1234]:``) because FreeBSD's libc
``syslog(3)`` always sends it; glibc only does with ``LOG_PID``, which charon does not set.
So the listener asks the kernel for the sender's credentials (``SO_PASSCRED``) and adds
the real pid to a tag that lacks one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import struct
import sys
import time

_RX = re.compile(r"^<(\d{1,3})>([A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d) (.*)$", re.S)
_TAG = re.compile(r"^([^\s:\[]+(?:\[\d+\])?:) ?(.*)$", re.S)


def format_line(
    datagram: bytes, hostname: str, now: float | None = None, pid: int | None = None
) -> list[str]:
    """Turn one syslog datagram into BSD syslogd output lines (pure; used by tests)."""
    text = datagram.decode("utf-8", "replace").rstrip("\n\0")
    m = _RX.match(text)
    if m:
        stamp, rest = m.group(2), m.group(3)
    else:
        rest = re.sub(r"^<\d{1,3}>", "", text)
        stamp = time.strftime("%b %e %H:%M:%S", time.localtime(now))
    t = _TAG.match(rest)
    tag, msg = (t.group(1), t.group(2)) if t else ("", rest)
    if pid is not None and tag and "[" not in tag:
        tag = f"{tag[:-1]}[{pid}]:"
    head = f"{stamp} {hostname} {tag}".rstrip()
    return [f"{head} {part}" for part in msg.split("\n")]


def serve(sock_path: str, out_path: str, hostname: str) -> None:
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(sock_path)
    os.chmod(sock_path, 0o666)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    cred_size = struct.calcsize("3i")
    with open(out_path, "a", encoding="utf-8") as out:
        while True:
            data, anc, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(cred_size))
            pid = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", payload[:cred_size])[0]
            if data:
                out.write("".join(line + "\n" for line in format_line(data, hostname, pid=pid)))
                out.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("socket")
    ap.add_argument("outfile")
    ap.add_argument("--hostname", default="pfsense")
    args = ap.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.socket, args.outfile, args.hostname)
    return 0


if __name__ == "__main__":
    sys.exit(main())
