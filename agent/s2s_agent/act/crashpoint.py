"""Named crash points for the crash-convergence lab test (``S2S_TEST_CRASH_AT``).

``crashpoint("after:update_lng")`` kills this process with SIGKILL when the environment
variable ``S2S_TEST_CRASH_AT`` names that point, and does nothing otherwise (one dict
lookup). The lab test starts the agent with it set, to prove that a crash at every step
boundary of a heal converges after a restart. Never set it in production.
"""

from __future__ import annotations

import os
import signal

ENV = "S2S_TEST_CRASH_AT"


def crashpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
