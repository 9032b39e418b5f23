"""Tell: alerts, syslog, status rendering, metrics and the control socket."""
