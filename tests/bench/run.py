"""``make bench``: the speed and memory numbers of docs/benchmarks.md.

1. parse a 1,000-tunnel ``ipsec statusall`` and ``swanctl --list-sas`` (built by replicating
   the real blocks captured from the lab, tests/golden/lab/single) — median of 15 runs;
2. classify charon log lines (the real lab log, repeated to 200,000 lines) — lines/s;
3. the running daemon in the lab (real charon, VICI, probe, syslog-format log), watching one
   tunnel at a 10 s interval: resident memory and CPU per cycle, from /proc;
4. the import cost of the Azure SDK the observing daemon must not pay (RSS, seconds).

Results are printed and written to dist/bench.json. ``--quick`` skips the lab part.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from s2s_agent.parsers import classify_line, parse_list_sas, parse_statusall

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "lab"


def replicate_statusall(n: int) -> str:
    text = (GOLDEN / "single" / "ipsec-statusall.txt").read_text()
    head, sas = text.split("Security Associations", 1)
    sa_header, sa_body = sas.split("\n", 1)
    lines = [ln for ln in sa_body.splitlines() if ln.strip()]
    out = []
    for i in range(1, n + 1):
        for ln in lines:
            out.append(re.sub(r"\bcon1(?=[\[{])", f"con{i}", ln).replace("[1]", f"[{i}]").replace("{1}", f"{{{i}}}"))
    return f"{head}Security Associations ({n} up, 0 connecting):\n" + "\n".join(out) + "\n"


def replicate_list_sas(n: int) -> str:
    lines = (GOLDEN / "single" / "swanctl-list-sas.txt").read_text().splitlines()
    out = []
    for i in range(1, n + 1):
        for ln in lines:
            ln = re.sub(r"^con1: #1,", f"con{i}: #{i},", ln)
            ln = re.sub(r"^  con1: #1,", f"  con{i}: #{i},", ln)
            out.append(ln)
    return "\n".join(out) + "\n"


def timed(fn, arg, runs: int = 15) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(arg)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def bench_parsers() -> dict:
    res = {}
    sa = replicate_statusall(1000)
    snap = parse_statusall(sa)
    assert len(snap.ike_sas) == 1000 and all(i.child_sas for i in snap.ike_sas), "bad replica"
    res["statusall_1000_ms"] = round(timed(parse_statusall, sa) * 1000, 2)
    ls = replicate_list_sas(1000)
    snap = parse_list_sas(ls)
    assert len(snap.ike_sas) == 1000 and all(i.child_sas for i in snap.ike_sas), "bad replica"
    res["list_sas_1000_ms"] = round(timed(parse_list_sas, ls) * 1000, 2)
    for name in ("ipsec.log", "charon.log"):
        lines = (GOLDEN / "logs" / name).read_text().splitlines()
        lines = (lines * (200_000 // len(lines) + 1))[:200_000]
        best = []
        for _ in range(3):
            t0 = time.perf_counter()
            for ln in lines:
                classify_line(ln)
            best.append(time.perf_counter() - t0)
        res[f"classify_{name.replace('.', '_')}_lines_per_s"] = int(len(lines) / min(best))
    return res


def bench_azure_import() -> dict:
    code = (
        "import time,resource,sys\n"
        "import s2s_agent.daemon, s2s_agent.cli\n"
        "def rss():\n"
        "    for l in open('/proc/self/status'):\n"
        "        if l.startswith('VmRSS:'): return int(l.split()[1])/1024\n"
        "a=rss(); assert not [m for m in sys.modules if m.startswith('azure')]\n"
        "t=time.perf_counter(); import azure.identity, azure.mgmt.network; "
        "from azure.mgmt.network import NetworkManagementClient\n"
        "print(a, rss(), time.perf_counter()-t)\n"
    )
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        runs.append([float(x) for x in out.stdout.split()])
    return {
        "daemon_modules_rss_mib": round(statistics.median(r[0] for r in runs), 1),
        "with_azure_sdk_rss_mib": round(statistics.median(r[1] for r in runs), 1),
        "azure_sdk_import_s": round(statistics.median(r[2] for r in runs), 3),
    }


def bench_daemon(cycles: int) -> dict:
    from tests.conftest import lab_unavailable_reason
    from tests.lab.agent import LabAgent
    from tests.lab.lab import Lab

    reason = lab_unavailable_reason()
    if reason:
        return {"skipped": reason}
    root = ROOT / "lab-run" / "bench"
    root.mkdir(parents=True, exist_ok=True)
    lab = Lab(root, prefix="s2sbench")
    agent = None
    try:
        lab.up()
        lab.initiate("con1")
        lab.wait_for(lambda: lab.ping(1), 15, what="tunnel")
        agent = LabAgent(lab, "bench-agent", interval=10).start()
        agent.wait_tunnel(lambda t: t["health"] == "UP" and t["probe"], 30, "UP")
        c0 = agent.status()["agent"]["cycles"]
        cpu0, _ = agent.cpu_rss()
        rss = []
        deadline = time.monotonic() + cycles * 10 + 5
        while time.monotonic() < deadline:
            time.sleep(2)
            rss.append(agent.cpu_rss()[1])
        c1 = agent.status()["agent"]["cycles"]
        cpu1, _ = agent.cpu_rss()
        n = max(1, c1 - c0)
        return {
            "cycles": n,
            "interval_s": 10,
            "cpu_ms_per_cycle": round((cpu1 - cpu0) * 1000 / n, 2),
            "rss_mib_max": round(max(rss) / 2**20, 1),
            "rss_mib_median": round(statistics.median(rss) / 2**20, 1),
            "health": agent.tunnel()["health"],
        }
    finally:
        if agent is not None:
            agent.stop()
        lab.down()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="make bench")
    ap.add_argument("--quick", action="store_true", help="skip the lab daemon measurement")
    ap.add_argument("--cycles", type=int, default=9)
    args = ap.parse_args(argv)
    results = {"parsers": bench_parsers(), "azure_import": bench_azure_import()}
    if not args.quick:
        results["daemon"] = bench_daemon(args.cycles)
    targets = [
        ("statusall, 1,000 tunnels", results["parsers"]["statusall_1000_ms"], "ms", "<= 50"),
        ("swanctl --list-sas, 1,000 tunnels", results["parsers"]["list_sas_1000_ms"], "ms", "<= 50"),
        ("classify ipsec.log lines", results["parsers"]["classify_ipsec_log_lines_per_s"], "lines/s", ">= 100000"),
        ("classify charon.log lines", results["parsers"]["classify_charon_log_lines_per_s"], "lines/s", ">= 100000"),
        ("daemon modules imported, RSS", results["azure_import"]["daemon_modules_rss_mib"], "MiB", "-"),
        ("+ Azure SDK imported, RSS", results["azure_import"]["with_azure_sdk_rss_mib"], "MiB", "not in the daemon"),
        ("Azure SDK import time", results["azure_import"]["azure_sdk_import_s"], "s", "-"),
    ]
    d = results.get("daemon", {})
    if "cpu_ms_per_cycle" in d:
        targets += [
            ("daemon RSS (max), 1 tunnel, 10 s", d["rss_mib_max"], "MiB", "<= 30"),
            ("daemon CPU per cycle", d["cpu_ms_per_cycle"], "ms", "<= 20"),
        ]
    for name, value, unit, target in targets:
        print(f"{name:40s} {value:>12} {unit:8s} target {target}")
    out = ROOT / "dist" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
