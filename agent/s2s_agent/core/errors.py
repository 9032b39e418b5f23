"""The one exception tree of s2s-agent.

Every message is meant for the admin: it names the file, the config key or the command,
and the next step. No secret is ever put into a message.
"""

from __future__ import annotations


class S2SError(Exception):
    """Base of every error s2s-agent raises on purpose."""


class ConfigError(S2SError):
    """The configuration file is missing, unreadable or invalid."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None):
        self.path = path
        self.key = key
        where = ""
        if path:
            where += f"{path}: "
        if key:
            where += f"{key}: "
        super().__init__(where + message)


class ParseError(S2SError):
    """Tool output could not be parsed (the parser names what it expected)."""

    def __init__(self, source: str, message: str, *, line: int | None = None):
        self.source = source
        self.line = line
        at = f" (line {line})" if line is not None else ""
        super().__init__(f"cannot parse {source} output{at}: {message}")


class CommandError(S2SError):
    """An external command failed, timed out or is missing."""

    def __init__(
        self,
        argv: list[str] | tuple[str, ...],
        message: str,
        *,
        returncode: int | None = None,
        stdout: str = "",
        stderr: str = "",
        timed_out: bool = False,
    ):
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        super().__init__(f"{argv[0] if argv else '?'}: {message}")


class SourceError(S2SError):
    """strongSwan could not be asked for its SAs (charon down, socket missing ...)."""


class ControlError(S2SError):
    """The control socket could not be reached or answered nonsense."""


class StateError(S2SError):
    """The persisted state could not be read or written."""


class LocalApplyError(S2SError):
    """Changing the local strongSwan / pfSense side failed.

    ``step``: what was being done (``terminate``, ``initiate``, ``load-all``, ``write``,
    ``apply-myid`` ...); ``rolled_back``: True when the previous configuration was restored
    (the tunnel config is as before the attempt), False when nothing needed restoring or
    the restore itself failed (the message says which).
    """

    def __init__(self, step: str, message: str, *, rolled_back: bool = False):
        self.step = step
        self.rolled_back = rolled_back
        super().__init__(message)
