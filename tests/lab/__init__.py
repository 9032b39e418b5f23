"""The project's two-peer strongSwan lab (see ``lab.py``); ``python -m tests.lab --help``."""

from .config import Scenario
from .lab import Lab, LabError, PingResult

__all__ = ["Lab", "LabError", "PingResult", "Scenario"]
