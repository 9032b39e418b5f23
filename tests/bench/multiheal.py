"""The heal of 2 tunnels on 2 LNGs (issue 10, item 6), for ``make bench``.

The multi-WAN lab (``Scenario(multiwan=True)``) with two tunnels on two LNGs in two
subscriptions: con1 (LNG ``lng-pfsense``, subscription A) and con2 (LNG ``lng-pfsense-b``,
subscription B, its own principal); the active-active con4 is not part of it (it would share
con1's LNG: 3 tunnels on 2 LNGs). The fake Azure runs as a process whose hook reprograms
only the written LNG's gateways. The real agent daemon runs with the same settings as the
single-tunnel heal of ``run.py`` (remediation on, ``hold_seconds: 0.5``, ``hold_count: 1``,
10 s interval), its config in the tunnels form.

Each run moves WAN1's address (198.51.100.2 <-> 192.0.2.50) while a ``ping -D -i 0.05``
runs through each tunnel, and measures until EVERY tunnel answered an in-tunnel ping
(ping's own timestamps). The breakdown comes from the agent's records: detect (the first
LNG record's start), each LNG's PUT done, the shared local apply (its duration, and when the
tunnels' restarts began), all verified (the last tunnel record's end). Median of the runs;
the ratio to the single-tunnel heal of the same ``make bench`` run must be <= 1.5.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from pathlib import Path

from tests.helpers.multiagent import rewrite_as_tunnels
from tests.helpers.multiwan import NEW_WAN1, PINGS, bring_up

ROOT = Path(__file__).resolve().parents[2]
TUNNELS = ("con1", "con2")
RATIO_TARGET = 1.5


def _first_reply(lines: list[str], t0: float) -> float | None:
    """First ``ping -D`` reply later than t0 + 0.1 s (replies in flight at t0 excluded)."""
    for ln in lines:
        m = re.match(r"\[(\d+\.\d+)\] \d+ bytes from", ln)
        if m and float(m.group(1)) > t0 + 0.1:
            return float(m.group(1))
    return None


def _by_name(agent) -> dict[str, dict]:
    return {t["name"]: t for t in agent.status()["tunnels"]}


def _wait(agent, pred, timeout: float, what: str) -> dict[str, dict]:
    last: dict = {}

    def check():
        nonlocal last
        try:
            last = _by_name(agent)
        except Exception:
            return None
        return last if all(n in last and pred(last[n]) for n in TUNNELS) else None

    try:
        return agent.lab.wait_for(check, timeout, what=what)
    except Exception as exc:
        brief = {n: (t.get("health"), t.get("remediations", [])[:1]) for n, t in last.items()}
        raise AssertionError(f"{what}: {brief}; agent stderr: {agent.stderr_tail()}") from exc


def _row(st: dict[str, dict], t0: float, replies: dict[str, float | None]) -> dict:
    """One run's numbers (seconds after the address move) from the agent's records."""
    lngs = {}
    for name in TUNNELS:
        rec = st[name]["remediations"][0]
        lngs.setdefault(st[name]["remediation"]["lng"], rec)
    put_done, apply_s, ok = {}, [], True
    for lng, rec in lngs.items():
        ok = ok and rec["ok"] is True
        at = rec["started_ts"]
        for s in rec["steps"]:
            at += s["seconds"]
            if s["kind"] == "update_lng":
                put_done[lng] = round(at - t0, 3)
                break
        apply_s += [
            (s["seconds"], s["detail"]) for s in rec["steps"] if s["kind"] == "apply_local_id"
        ]
    trecs = [st[n]["tunnel_remediations"][0] for n in TUNNELS]
    total = [r - t0 if r else None for r in replies.values()]
    return {
        "ok": ok and all(r["ok"] for r in trecs),
        "total_s": round(max(total), 3) if None not in total else None,
        "per_tunnel_s": {
            n: round(v, 3) if v else None for n, v in zip(replies, total, strict=True)
        },
        "detect_s": round(min(r["started_ts"] for r in lngs.values()) - t0, 3),
        "put_done_s": put_done,
        "local_apply_s": round(max(a for a, _ in apply_s), 3) if apply_s else None,
        "one_local_write": len(set(apply_s)) == 1,  # the same write in both LNGs' records
        "restarts_begin_s": round(min(r["started_ts"] for r in trecs) - t0, 3),
        "all_verified_s": round(max(r["finished_ts"] for r in trecs) - t0, 3),
    }


def _heal_once(lab, agent, new_ip: str, i: int) -> dict:
    before = {n: len(t.get("tunnel_remediations") or []) for n, t in _by_name(agent).items()}
    pingers = {
        n: lab.popen(
            "onprem",
            ["ping", "-D", "-n", "-i", "0.05", "-W", "1", "-I", PINGS[n][0], PINGS[n][1]],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in TUNNELS
    }
    time.sleep(0.3)
    t0 = time.time()
    lab.set_wan_ip(new_ip)
    st = _wait(
        agent,
        lambda t: (
            len(t.get("tunnel_remediations") or []) > before.get(t["name"], 0)
            and t["remediations"][0]["ok"] is not None
        ),
        90,
        f"multi heal {i}",
    )
    time.sleep(0.5)
    replies = {}
    for n, p in pingers.items():
        p.terminate()
        out, _ = p.communicate(timeout=10)
        replies[n] = _first_reply(out.splitlines(), t0)
    return _row(st, t0, replies)


def bench_multi_heal(runs: int) -> dict:
    """``runs`` heals of con1 + con2 (2 LNGs, 2 subscriptions) by the real agent."""
    from tests.conftest import lab_unavailable_reason
    from tests.lab import config
    from tests.lab.agent import FakeAzureProc, LabAgent
    from tests.lab.lab import Lab

    reason = lab_unavailable_reason()
    if reason:
        return {"skipped": reason}
    root = ROOT / "lab-run" / "bench-multi"
    root.mkdir(parents=True, exist_ok=True)
    lab = Lab(root, prefix=f"s2smh{os.getpid()}", scenario=config.Scenario(multiwan=True))
    agent = azure = None
    try:
        lab.up()
        bring_up(lab)
        azure = FakeAzureProc(lab, second_site=True)
        agent = LabAgent(
            lab,
            "bench-multi",
            interval=10,
            azure=azure,
            remediation={"max_azure_writes_per_hour": 60, "azure_status_interval": 0},
            wan={"hold_seconds": 0.5, "hold_count": 1},
        )
        rewrite_as_tunnels(agent, azure, TUNNELS)
        agent.start()
        _wait(
            agent,
            lambda t: t["health"] == "UP" and t["remediation"]["wan_ip"],
            60,
            "con1 and con2 UP with a known WAN IP",
        )
        ips = [NEW_WAN1, lab.wan_ip]
        rows = []
        for i in range(runs):
            rows.append(_heal_once(lab, agent, ips[i % 2], i))
            print(f"  multi heal {i + 1}/{runs}: {rows[-1]}", flush=True)
            time.sleep(1)
        puts = {k: v["puts"] for k, v in azure.stats()["lngs"].items()}
        return summarise(rows, puts)
    finally:
        if agent is not None:
            agent.stop()
        if azure is not None:
            azure.stop()
        lab.down()


def summarise(rows: list[dict], puts: dict[str, int]) -> dict:
    def med(get):
        vals = [v for v in map(get, rows) if v is not None]
        return round(statistics.median(vals), 3) if vals else None

    lngs = sorted({k for r in rows for k in r["put_done_s"]})
    return {
        "tunnels": list(TUNNELS),
        "runs": len(rows),
        "ok": sum(1 for r in rows if r["ok"]),
        "median_total_s": med(lambda r: r["total_s"]),
        "max_total_s": max((r["total_s"] or 0) for r in rows) if rows else None,
        "median_detect_s": med(lambda r: r["detect_s"]),
        **{f"median_put_done_s_{k}": med(lambda r, k=k: r["put_done_s"].get(k)) for k in lngs},
        "median_local_apply_s": med(lambda r: r["local_apply_s"]),
        "one_local_write": all(r["one_local_write"] for r in rows),
        "median_restarts_begin_s": med(lambda r: r["restarts_begin_s"]),
        "median_all_verified_s": med(lambda r: r["all_verified_s"]),
        "lng_puts": puts,
        "rows": rows,
    }


def verdict(multi: dict, single: dict) -> dict:
    """The ratio to the single-tunnel heal of the same run, and whether it holds."""
    s, m = single.get("median_total_s"), multi.get("median_total_s")
    if not s or not m:
        return {"ratio": None, "failures": ["multi heal: no single or multi median to compare"]}
    ratio = round(m / s, 2)
    failures = []
    if ratio > RATIO_TARGET:
        failures.append(f"multi heal {m} s is {ratio}x the single heal {s} s (> {RATIO_TARGET}x)")
    if multi["ok"] != multi["runs"]:
        failures.append(f"multi heal: only {multi['ok']}/{multi['runs']} runs healed")
    return {"ratio": ratio, "failures": failures}


def targets(multi: dict, ratio: float | None) -> list[tuple]:
    """Rows for run.py's table."""
    if "median_total_s" not in multi:
        return []
    rows = [
        ("heal 2 tunnels / 2 LNGs -> every ping", multi["median_total_s"], "s", "-"),
        ("  ratio to the single-tunnel heal", ratio, "x", f"<= {RATIO_TARGET}"),
        ("  detect", multi["median_detect_s"], "s", "<= 1"),
    ]
    rows += [
        (f"  PUT done, {k[len('median_put_done_s_') :]}", v, "s", "-")
        for k, v in multi.items()
        if k.startswith("median_put_done_s_")
    ]
    rows += [
        ("  local apply (one write + reload)", multi["median_local_apply_s"], "s", "-"),
        ("  restarts begin", multi["median_restarts_begin_s"], "s", "-"),
        ("  all verified", multi["median_all_verified_s"], "s", "-"),
        ("  multi heals ok", f"{multi['ok']}/{multi['runs']}", "", "all"),
    ]
    return rows


def main(argv=None) -> int:
    """``python -m tests.bench.multiheal [RUNS]``: only this scenario (no ratio)."""
    import json
    import sys

    runs = int((argv or sys.argv[1:] or ["10"])[0])
    res = bench_multi_heal(runs)
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
