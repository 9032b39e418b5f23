"""Decide: pure functions from observations to verdicts and plans (no I/O)."""
