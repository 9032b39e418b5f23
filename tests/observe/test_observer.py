from s2s_agent.config import ProbeSettings, TunnelSettings
from s2s_agent.observe.observer import ProbeScheduler
from s2s_agent.observe.probe import ProbeResult


def test_probe_window_pools_the_last_probes_since_a_time():
    answers = iter([(3, 3), (3, 2), (3, 3), (3, 1)])

    def run(src, dst, count, timeout):
        sent, got = next(answers)
        return ProbeResult(target=dst, source=src, sent=sent, received=got, loss=1 - got / sent)

    sched = ProbeScheduler(run)
    t = TunnelSettings("hq", "con1", ("con1",), ProbeSettings("192.168.1.1", "10.1.10.1"))
    clock = iter([10.0, 20.0, 30.0, 40.0])
    for _ in range(4):
        sched.kick(t, lambda: next(clock))
        sched.wait(5)
    assert sched.latest("hq")[0] == 40.0 and sched.latest("hq")[1].received == 1
    assert sched.window("hq", None) == (9, 6)  # the last 3 probes (WINDOW)
    assert sched.window("hq", 30.0) == (6, 4)  # only those after the SA came up


# ---- a partly read snapshot reaches the planner as UNKNOWN --------------------------------

from pathlib import Path  # noqa: E402

from s2s_agent import config as C  # noqa: E402
from s2s_agent.decide import plan as R  # noqa: E402
from s2s_agent.observe.observer import Observer  # noqa: E402
from s2s_agent.observe.parsers import parse_statusall  # noqa: E402

LAB = Path(__file__).resolve().parents[1] / "golden" / "lab"


class _Source:
    def __init__(self, snap):
        self.snap = snap

    def fetch(self):
        return self.snap


def _observe(text: str) -> dict:
    cfg = C.parse(
        {"agent": {"interval": 5}, "tunnels": [{"name": "hq", "ike": "con1", "children": ["con1"]}]}
    )
    obs = Observer(cfg, source=_Source(parse_statusall(text)), tailer=None, clock=lambda: 1000.0)
    obs.tailer = None
    return obs.cycle()[0]


def _plan(entry: dict) -> R.Plan:
    view = R.View(
        now=1000.0, health=entry["health"], wan_ip="198.51.100.2", applied_ip="198.51.100.2"
    )
    return R.plan(view, R.History(), R.Policy())


def test_an_unreadable_sa_from_a_partial_snapshot_is_unknown_and_plans_nothing():
    text = (LAB / "multi" / "ipsec-statusall.txt").read_text()
    lines = text.splitlines(keepends=True)
    i = next(n for n, ln in enumerate(lines) if "con1[1]: ESTABLISHED" in ln)
    # the line is damaged and con1's other lines are gone: nothing in the output names con1
    damaged = "".join(lines[:i]) + "        c\x00n1[1: ESTABL\ufffdSHED 0 sec\n"
    entry = _observe(damaged)
    assert entry["health"] == "UNKNOWN" and entry["reasons"] == ["sa_unreadable"]
    assert "line" in (entry["error"] or "")  # the parser's warning says which line
    assert _plan(entry).steps == ()
    # the control: the same snapshot without the damaged line is DOWN and gets a rung
    entry = _observe("".join(lines[:i]))
    assert entry["health"] == "DOWN" and _plan(entry).steps


def test_a_damaged_state_line_costs_only_its_own_tunnel():
    text = (LAB / "multi" / "ipsec-statusall.txt").read_text()
    damaged = text.replace("con1[1]: ESTABLISHED 0 seconds ago", "con1[1]: ESTAB#LISHED 0 x")
    entry = _observe(damaged)
    assert entry["health"] == "UNKNOWN" and _plan(entry).steps == ()
    snap = parse_statusall(damaged)
    assert [(i.name, i.state) for i in snap.ike_sas] == [
        ("con3", "ESTABLISHED"),
        ("con2", "ESTABLISHED"),
        ("con1", None),
    ]
    assert [c.state for c in snap.ike_sas[2].child_sas] == ["INSTALLED"]
