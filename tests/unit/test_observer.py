from s2s_agent.config import ProbeSettings, TunnelSettings
from s2s_agent.observer import ProbeScheduler
from s2s_agent.probe import ProbeResult


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
