"""``make bench``: the speed and memory numbers of docs/benchmarks.md.

1. parse a 1,000-tunnel ``ipsec statusall`` and ``swanctl --list-sas`` (built by replicating
   the real blocks captured from the lab, tests/golden/lab/single) — median of 15 runs;
2. classify charon log lines (the real lab log, repeated to 200,000 lines) — lines/s;
3. the running daemon in the lab (real charon, VICI, probe, syslog-format log), watching one
   tunnel at a 10 s interval: resident memory and CPU per cycle, from /proc;
4. the import cost of the Azure SDK the observing daemon must not pay (RSS, seconds);
5. 1 MB (and 60 KB) adversarial lines for every parser (tests/bench/adversarial.py).

Results are printed and written to dist/bench.json. ``--quick`` skips the lab part,
``--parsers`` runs only parts 1, 2 and 5.
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

from s2s_agent.observe.parsers import classify_line, parse_list_sas, parse_statusall
from tests.bench import multiheal
from tests.bench.adversarial import bench_adversarial

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
            out.append(
                re.sub(r"\bcon1(?=[\[{])", f"con{i}", ln)
                .replace("[1]", f"[{i}]")
                .replace("{1}", f"{{{i}}}")
            )
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
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        runs.append([float(x) for x in out.stdout.split()])
    return {
        "daemon_modules_rss_mib": round(statistics.median(r[0] for r in runs), 1),
        "with_azure_sdk_rss_mib": round(statistics.median(r[1] for r in runs), 1),
        "azure_sdk_import_s": round(statistics.median(r[2] for r in runs), 3),
    }


def bench_daemon(cycles: int, heal_runs: int) -> dict:
    from tests.conftest import lab_unavailable_reason
    from tests.lab.agent import FakeAzureProc, LabAgent
    from tests.lab.lab import Lab

    reason = lab_unavailable_reason()
    if reason:
        return {"skipped": reason}
    root = ROOT / "lab-run" / "bench"
    root.mkdir(parents=True, exist_ok=True)
    lab = Lab(root, prefix="s2sbench")
    agent = azure = None
    try:
        lab.up()
        lab.initiate("con1")
        lab.wait_for(lambda: lab.ping(1), 15, what="tunnel")
        azure = FakeAzureProc(lab)
        # remediation enabled (idle until the WAN IP changes); 10 s observation interval
        agent = LabAgent(
            lab,
            "bench-agent",
            interval=10,
            azure=azure,
            remediation={"max_azure_writes_per_hour": 60, "azure_status_interval": 0},
            wan={"hold_seconds": 0.5, "hold_count": 1},
        ).start()
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
        out = {
            "cycles": n,
            "interval_s": 10,
            "cpu_ms_per_cycle": round((cpu1 - cpu0) * 1000 / n, 2),
            "rss_mib_max": round(max(rss) / 2**20, 1),
            "rss_mib_median": round(statistics.median(rss) / 2**20, 1),
            "health": agent.tunnel()["health"],
        }
        if heal_runs:
            out["heal"] = bench_heal(lab, agent, heal_runs)
            out["rss_mib_after_heals"] = round(agent.cpu_rss()[1] / 2**20, 1)
        return out
    finally:
        if agent is not None:
            agent.stop()
        if azure is not None:
            azure.stop()
        lab.down()


def first_reply_after(lines: list[str], t0: float) -> float | None:
    """First `ping -D` reply timestamp later than t0 + 0.1 s (replies in flight at t0 excluded)."""
    for ln in lines:
        m = re.match(r"\[(\d+\.\d+)\] \d+ bytes from", ln)
        if m and float(m.group(1)) > t0 + 0.1:
            return float(m.group(1))
    return None


def bench_heal(lab, agent, runs: int) -> dict:
    """WAN address change -> first in-tunnel ping reply, with the agent's step timings."""
    ips = ["192.0.2.77", lab.wan_ip]
    rows = []
    for i in range(runs):
        new_ip = ips[i % 2]
        before = len(agent.tunnel().get("remediations") or [])
        pinger = lab.popen(
            "onprem",
            ["ping", "-D", "-n", "-i", "0.05", "-W", "1", "-I", "192.168.1.1", "10.1.10.1"],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.3)
        t0 = time.time()
        lab.set_wan_ip(new_ip)
        t = agent.wait_tunnel(
            lambda t, b=before: (
                len(t.get("remediations") or []) > b and t["remediations"][0]["ok"] is not None
            ),
            60,
            f"heal {i}",
        )
        time.sleep(0.5)
        pinger.terminate()
        out, _ = pinger.communicate(timeout=10)
        rec = t["remediations"][0]
        first = first_reply_after(out.splitlines(), t0)
        steps = {s["kind"]: s["seconds"] for s in rec["steps"]}
        rows.append(
            {
                "ok": rec["ok"],
                "total_s": round(first - t0, 3) if first else None,
                "detect_s": round(rec["started_ts"] - t0, 3),
                "azure_s": steps.get("update_lng"),
                "local_apply_s": steps.get("apply_local_id"),
                "ike_s": steps.get("restart_ike"),
                "verify_s": steps.get("verify"),
            }
        )
        print(f"  heal {i + 1}/{runs}: {rows[-1]}", flush=True)
        time.sleep(1)

    def med(key):
        vals = [r[key] for r in rows if r[key] is not None]
        return round(statistics.median(vals), 3) if vals else None

    return {
        "runs": len(rows),
        "ok": sum(1 for r in rows if r["ok"]),
        **{
            f"median_{k}": med(k)
            for k in ("total_s", "detect_s", "azure_s", "local_apply_s", "ike_s", "verify_s")
        },
        "max_total_s": max((r["total_s"] or 0) for r in rows),
        "rows": rows,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="make bench")
    ap.add_argument("--quick", action="store_true", help="skip the lab daemon measurement")
    ap.add_argument("--cycles", type=int, default=9)
    ap.add_argument("--heal-runs", type=int, default=10)
    ap.add_argument("--parsers", action="store_true", help="only the parser benchmarks")
    ap.add_argument("--multi-heal-runs", type=int, default=10, help="2 tunnels on 2 LNGs")
    args = ap.parse_args(argv)
    results = {"parsers": bench_parsers(), "adversarial_ms": bench_adversarial()}
    if not args.parsers:
        results["azure_import"] = bench_azure_import()
    if not (args.quick or args.parsers):
        results["daemon"] = bench_daemon(args.cycles, args.heal_runs)
        if args.multi_heal_runs:
            results["multi_heal"] = multiheal.bench_multi_heal(args.multi_heal_runs)
    targets = [
        ("statusall, 1,000 tunnels", results["parsers"]["statusall_1000_ms"], "ms", "<= 50"),
        (
            "swanctl --list-sas, 1,000 tunnels",
            results["parsers"]["list_sas_1000_ms"],
            "ms",
            "<= 50",
        ),
        (
            "classify ipsec.log lines",
            results["parsers"]["classify_ipsec_log_lines_per_s"],
            "lines/s",
            ">= 100000",
        ),
        (
            "classify charon.log lines",
            results["parsers"]["classify_charon_log_lines_per_s"],
            "lines/s",
            ">= 100000",
        ),
        (
            "adversarial 1 MB / 60 KB lines, slowest",
            max(results["adversarial_ms"].values()),
            "ms",
            "<= 100",
        ),
    ]
    a = results.get("azure_import")
    if a:
        targets += [
            ("daemon modules imported, RSS", a["daemon_modules_rss_mib"], "MiB", "-"),
            ("+ Azure SDK imported, RSS", a["with_azure_sdk_rss_mib"], "MiB", "not in the daemon"),
            ("Azure SDK import time", a["azure_sdk_import_s"], "s", "-"),
        ]
    d = results.get("daemon", {})
    if "cpu_ms_per_cycle" in d:
        targets += [
            ("daemon RSS (max), 1 tunnel, 10 s, remediation on", d["rss_mib_max"], "MiB", "<= 30"),
            ("daemon CPU per cycle", d["cpu_ms_per_cycle"], "ms", "<= 20"),
        ]
    h = d.get("heal") or {}
    if h:
        targets += [
            ("heal: WAN change -> first ping (median)", h["median_total_s"], "s", "<= 3"),
            ("  detect (event + hold 0.5 s)", h["median_detect_s"], "s", "<= 1"),
            ("  Azure LNG update (worker, LRO, hook)", h["median_azure_s"], "s", "-"),
            ("  local apply (swanctl.conf + reload)", h["median_local_apply_s"], "s", "-"),
            ("  IKE restart (terminate + initiate)", h["median_ike_s"], "s", "-"),
            ("  heals ok", f"{h['ok']}/{h['runs']}", "", "all"),
            ("daemon RSS after the heals", d.get("rss_mib_after_heals"), "MiB", "<= 30"),
        ]
    failures = []
    m = results.get("multi_heal") or {}
    if "median_total_s" in m:
        m.update(multiheal.verdict(m, h))
        targets += multiheal.targets(m, m["ratio"])
        failures += m["failures"]
    for name, value, unit, target in targets:
        print(f"{name:40s} {value:>12} {unit:8s} target {target}")
    out = ROOT / "dist" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {out}")
    for f in failures:
        print(f"FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
