"""Capture REAL ``swanctl --load-all`` outputs for the judgement of ``tunnelctl.load_all``.

Usage (root, project root): ``python -m tests.lab.swanctl_samples [OUTDIR]`` (default
``tests/golden/swanctl-load``). Builds a lab (netns prefix ``s2sswl``), then runs swanctl in
the onprem side against its running charon, each case as a user meets it:

- ``ok``: the lab's own swanctl.conf, every plugin present.
- ``plugins-missing``: the same, but swanctl runs in a private mount namespace where
  ``/usr/lib/ipsec/plugins`` holds every plugin file except those of
  ``libstrongswan-standard-plugins`` (aesni, openssl, gcm, agent, connmark) -- what a
  ``--no-install-recommends`` Debian machine has. swanctl warns and loads everything.
- ``bad-proposal``: a swanctl.conf whose connection has an invalid IKE proposal; charon
  refuses it.
- ``bad-proposal-plugins-missing``: both at once.
- ``no-daemon``: ``--uri`` points at a socket nobody listens on.

Each case is saved as ``<case>.json``: argv, returncode, stdout, stderr. The README says
when, where and with which strongSwan they were produced. The lab is always torn down.
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

from s2s_agent.core.osio import run

from .lab import Lab

log = logging.getLogger(__name__)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "golden" / "swanctl-load"
PREFIX = "s2sswl"
PLUGIN_DIR = "/usr/lib/ipsec/plugins"
STANDARD_PLUGINS = ("aesni", "openssl", "gcm", "agent", "connmark")

BAD_CONF = """connections {
  bad1 {
    version = 2
    local_addrs = 198.51.100.2
    remote_addrs = 203.0.113.1
    proposals = aes256-sha256-nosuchgroup
    local { auth = psk
            id = 198.51.100.2 }
    remote { auth = psk
             id = 203.0.113.1 }
    children { bad1 { local_ts = 192.168.1.0/24
                      remote_ts = 10.1.10.0/24 } }
  }
}
secrets {
  ike-bad1 { id-0 = 203.0.113.1
             secret = 0sc2FtcGxlLW5vdC1hLXNlY3JldA== }
}
"""


def without_plugins(argv: list[str], plugins: tuple[str, ...] = STANDARD_PLUGINS) -> list[str]:
    """``argv`` run in a mount namespace of its own where PLUGIN_DIR lacks ``plugins``' files
    (what a machine without their package has); a charon already running keeps its own."""
    skip = " ".join(f"libstrongswan-{p}.so" for p in plugins)
    # sh -c SCRIPT DIR SKIP ARGV...: copy every plugin file but SKIP into a temp dir and
    # bind-mount it over DIR
    script = (
        'set -e; d=$(mktemp -d); for f in "$0"/*.so; do case " $1 " in '
        '*" ${f##*/} "*) ;; *) cp "$f" "$d/";; esac; done; '
        'mount --bind "$d" "$0"; shift; set +e; "$@"; rc=$?; umount "$0"; rm -rf "$d"; '
        "exit $rc"
    )
    return ["unshare", "-m", "sh", "-c", script, PLUGIN_DIR, skip, *argv]


def _swanctl(lab: Lab, args: list[str], *, hide_plugins: bool) -> dict:
    """Run swanctl in the onprem side; optionally with the standard plugins' files hidden."""
    argv = ["swanctl", *args]
    full = without_plugins(argv) if hide_plugins else argv
    res = lab.exec("onprem", full, timeout=30, ok_codes=tuple(range(256)))
    return {
        "argv": argv,
        "plugins_hidden": list(STANDARD_PLUGINS) if hide_plugins else [],
        "returncode": res.returncode,
        "stdout": res.stdout,
        "stderr": res.stderr,
    }


def capture(out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="s2sswl-", dir="/tmp") as tmp:
        lab = Lab(Path(tmp) / "lab", prefix=PREFIX)
        with lab:
            bad = lab.dir("onprem") / "bad.conf"
            bad.write_text(BAD_CONF)
            cases = {
                "ok": (["--load-all", "--noprompt"], False),
                "plugins-missing": (["--load-all", "--noprompt"], True),
                "bad-proposal": (["--load-all", "--noprompt", "--file", str(bad)], False),
                "bad-proposal-plugins-missing": (
                    ["--load-all", "--noprompt", "--file", str(bad)],
                    True,
                ),
                "no-daemon": (
                    ["--load-all", "--noprompt", "--uri", "unix:///var/run/nobody.vici"],
                    False,
                ),
            }
            for name, (args, hide) in cases.items():
                sample = _swanctl(lab, args, hide_plugins=hide)
                sample["argv"] = [str(a).replace(str(bad), "/tmp/bad.conf") for a in sample["argv"]]
                (out / f"{name}.json").write_text(json.dumps(sample, indent=2) + "\n")
                written.append(name)
    version = run(["swanctl", "--version"], timeout=10, ok_codes=tuple(range(256)))
    dpkg = run(["dpkg-query", "-W", "strongswan-swanctl"], timeout=10, ok_codes=(0, 1))
    (out / "README.md").write_text(
        "# Real `swanctl --load-all` outputs\n\n"
        "Produced by `python -m tests.lab.swanctl_samples` (as root) on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.platform()}, "
        f"Debian package `{dpkg.stdout.strip()}`"
        f"{' (' + version.stdout.strip().splitlines()[0] + ')' if version.stdout.strip() else ''}"
        ".\nswanctl ran in the lab's onprem namespace against the lab's running charon "
        "(strongSwan's userspace data plane, see tests/lab).\n\n"
        "| file | what |\n| --- | --- |\n"
        "| ok.json | the lab's swanctl.conf, all plugins installed |\n"
        "| plugins-missing.json | the same with the files of libstrongswan-standard-plugins "
        f"({', '.join(STANDARD_PLUGINS)}) hidden from swanctl (private mount namespace): "
        "what a `--no-install-recommends` machine prints |\n"
        "| bad-proposal.json | a connection with the invalid IKE proposal "
        "`aes256-sha256-nosuchgroup`: charon refuses it |\n"
        "| bad-proposal-plugins-missing.json | both |\n"
        "| no-daemon.json | `--uri` to a socket nobody listens on |\n\n"
        "Each file: `argv`, `plugins_hidden`, `returncode`, `stdout`, `stderr` exactly as "
        "swanctl wrote them. The PSK in the bad config is a dummy.\n"
        "Used by tests/act/test_tunnelctl_load.py.\n"
    )
    return written


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else DEFAULT_OUT
    for name in capture(out):
        print(f"wrote {out / name}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
