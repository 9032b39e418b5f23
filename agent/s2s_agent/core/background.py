"""One blocking call at a time on a worker thread, its result picked up by the main loop.

The daemon's main thread never waits on a blocking call (VICI, a command, HTTP): it
starts the call here and goes back to its selector; the worker stores the result and
calls ``wake`` (a byte on the daemon's wake-up socket), and the main loop then
:meth:`take` s the result. Every call run here has its own deadline, so a worker ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Background:
    def __init__(self, name: str, wake: Callable[[], None] | None = None):
        self.name = name
        self.wake = wake
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._result: tuple[Any, BaseException | None] | None = None
        self._running = False

    @property
    def busy(self) -> bool:
        """A call runs (until its result is stored: the thread may still be exiting)."""
        with self._lock:
            return self._running

    def start(self, fn: Callable[[], Any]) -> bool:
        """Run ``fn()`` on a worker thread; False (nothing started) while one still runs."""
        with self._lock:
            if self._running:
                return False
            self._running = True

        def work() -> None:
            try:
                result: tuple[Any, BaseException | None] = (fn(), None)
            except Exception as exc:  # handed to the main loop, which logs it
                result = (None, exc)
            with self._lock:
                self._result, self._running = result, False
            if self.wake is not None:
                self.wake()

        self._thread = threading.Thread(target=work, name=self.name, daemon=True)
        try:
            self._thread.start()
        except RuntimeError:  # "can't start new thread": try again next time
            with self._lock:
                self._running = False
            raise
        return True

    def take(self) -> tuple[bool, Any, BaseException | None]:
        """(done, value, error) of the last finished call; each result is taken once."""
        with self._lock:
            result, self._result = self._result, None
        if result is None:
            return False, None, None
        return True, result[0], result[1]

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
