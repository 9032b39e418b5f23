"""The daemon's WAN monitor: an address event that arrives while a background read is in
flight is not lost (the read may have seen the old address)."""

import threading

from s2s_agent.config.wan import WanSettings
from s2s_agent.core.background import Background
from s2s_agent.remedyloop import WanMonitor


class Events:
    def __init__(self):
        self.pending = False

    def drain(self) -> bool:
        got, self.pending = self.pending, False
        return got

    def close(self) -> None:
        pass


def test_an_event_during_a_background_read_makes_the_next_read_due_at_once():
    release = threading.Event()
    reads = []

    def read(_settings):
        reads.append(1)
        release.wait(5)
        return "198.51.100.2", ""

    clock = [100.0]
    settings = WanSettings(source="http", http_endpoints=("https://a.example/",), quorum=1)
    mon = WanMonitor(
        settings,
        "198.51.100.2",
        read=read,
        monotonic=lambda: clock[0],
        background=Background("wan-read"),
    )
    mon.events = Events()
    assert mon.start_poll()
    mon.events.pending = True  # the address changes while the read runs
    assert mon.wake() and mon.next_poll == 0.0
    release.set()
    mon.bg.join(5)
    assert mon.collect()
    # the finished read saw the old address; the event still asks for a read now
    assert mon.next_poll <= clock[0] and mon.due()
    assert mon.start_poll() and len(reads) == 2
    mon.bg.join(5)
    assert mon.collect() and mon.next_poll == clock[0] + settings.poll_interval


def test_a_read_without_an_event_waits_for_the_poll_interval():
    clock = [100.0]
    settings = WanSettings(source="http", http_endpoints=("https://a.example/",), quorum=1)
    mon = WanMonitor(
        settings,
        "198.51.100.2",
        read=lambda s: ("198.51.100.2", ""),
        monotonic=lambda: clock[0],
        background=Background("wan-read"),
    )
    mon.events = Events()
    assert mon.start_poll()
    mon.bg.join(5)
    assert mon.collect() and mon.next_poll == clock[0] + settings.poll_interval
