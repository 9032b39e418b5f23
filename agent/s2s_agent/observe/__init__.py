"""Observe: read what strongSwan, the log, the probes and the WAN say (I/O, returns data)."""
