"""background.Background: one call at a time, results taken once, the waker called."""

from __future__ import annotations

import threading

from s2s_agent.core.background import Background


def test_one_call_at_a_time_and_the_result_is_taken_once():
    woke = threading.Event()
    gate = threading.Event()
    bg = Background("t", wake=woke.set)
    assert bg.start(lambda: (gate.wait(5), 42)[1])
    assert bg.busy and not bg.start(lambda: 0)
    assert bg.take() == (False, None, None)
    gate.set()
    assert woke.wait(5)
    assert not bg.busy  # free as soon as the result is stored
    assert bg.take() == (True, 42, None)
    assert bg.take() == (False, None, None)


def test_an_exception_is_handed_over_not_raised():
    woke = threading.Event()
    bg = Background("t", wake=woke.set)
    bg.start(lambda: 1 / 0)
    assert woke.wait(5)
    done, value, error = bg.take()
    assert done and value is None and isinstance(error, ZeroDivisionError)
