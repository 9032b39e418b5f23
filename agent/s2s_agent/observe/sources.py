"""Where SA state comes from: VICI, ``swanctl --list-sas`` or ``ipsec statusall``.

``auto`` picks VICI when its socket exists (pfSense ≥ 2.5), else ``swanctl`` when it is on
PATH, else the legacy ``ipsec statusall`` (pfSense ≤ 2.4, strongSwan with the starter).
It re-picks on every failure, so a charon restarted with another setup is followed.
Every failure becomes a :class:`SourceError` whose text says what to check.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable

from ..config import StrongswanSettings
from ..core import osio
from ..core.errors import CommandError, ParseError, SourceError
from ..core.model import SaSnapshot
from . import viciio
from .parsers import parse_list_sas, parse_statusall, parse_vici_sas

log = logging.getLogger(__name__)

Runner = Callable[..., osio.Result]


def vici_list_sas(socket_path: str, timeout: float) -> list[dict]:
    """Ask charon over VICI for ``list-sas``; returns the raw reply dicts.

    The whole call (connect, the streamed events, the final reply) ends within ``timeout``
    seconds, also when charon stalls mid-reply (:mod:`.viciio`).
    """
    try:
        with viciio.session(socket_path, timeout) as session:
            return list(session.list_sas())
    except FileNotFoundError:
        raise SourceError(
            f"VICI socket {socket_path} does not exist: is charon running? (strongswan.vici_socket)"
        ) from None
    except ConnectionRefusedError:
        raise SourceError(
            f"VICI socket {socket_path} refused the connection: charon is not running"
        ) from None
    except TimeoutError:
        raise SourceError(f"charon did not answer on {socket_path} within {timeout:g}s") from None
    except OSError as exc:
        raise SourceError(f"VICI socket {socket_path}: {exc.strerror or exc}") from None
    except Exception as exc:  # vici's own SessionException / CommandException / decoding
        raise SourceError(f"VICI list-sas on {socket_path} failed: {exc}") from None


class SaSource:
    """Fetches one :class:`SaSnapshot` per call from the configured or detected source."""

    def __init__(
        self,
        settings: StrongswanSettings,
        *,
        runner: Runner = osio.run,
        vici_fn: Callable[[str, float], list[dict]] = vici_list_sas,
    ):
        self.settings = settings
        self.runner = runner
        self.vici_fn = vici_fn
        self.kind: str | None = None if settings.source == "auto" else settings.source
        self.last_error: str | None = None

    def detect(self) -> str:
        s = self.settings
        if os.path.exists(s.vici_socket):
            return "vici"
        if shutil.which(s.swanctl):
            return "swanctl"
        if shutil.which(s.ipsec):
            return "statusall"
        raise SourceError(
            f"no strongSwan interface found: no VICI socket at {s.vici_socket}, "
            f"no '{s.swanctl}' and no '{s.ipsec}' on PATH; is strongSwan installed and charon "
            "running? (strongswan.source / vici_socket / swanctl / ipsec)"
        )

    def fetch(self) -> SaSnapshot:
        auto = self.settings.source == "auto"
        try:
            if self.kind is None:
                self.kind = self.detect()
            snap = self._fetch(self.kind)
        except SourceError as exc:
            self.last_error = str(exc)
            if auto:
                self.kind = None  # re-detect next time
            raise
        self.last_error = None
        return snap

    def _fetch(self, kind: str) -> SaSnapshot:
        s = self.settings
        try:
            if kind == "vici":
                return parse_vici_sas(self.vici_fn(s.vici_socket, s.command_timeout))
            if kind == "swanctl":
                res = self.runner([s.swanctl, "--list-sas"], timeout=s.command_timeout)
                return parse_list_sas(res.stdout)
            # `ipsec statusall` exits 3 when charon runs without the starter, output complete
            res = self.runner([s.ipsec, "statusall"], timeout=s.command_timeout, ok_codes=(0, 3))
            if "Status of IKE charon daemon" not in res.stdout:
                detail = (res.stderr or res.stdout).strip().splitlines()
                raise SourceError(
                    "ipsec statusall did not reach charon"
                    + (f": {detail[-1]}" if detail else "")
                    + " — is charon running with the stroke plugin?"
                )
            return parse_statusall(res.stdout)
        except CommandError as exc:
            hint = " (is charon running?)" if not exc.timed_out else ""
            raise SourceError(f"{exc}{hint}") from None
        except ParseError as exc:
            raise SourceError(str(exc)) from None
