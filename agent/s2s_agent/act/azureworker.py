"""Azure calls in a short-lived worker process, so the daemon never imports the SDK.

The daemon side (:class:`AzureWorker`) runs ``python -c <bootstrap> OP [ARG]`` through
:func:`osio.run` with a deadline; the worker (:func:`worker_main`) loads the config, does one
call with :class:`~s2s_agent.act.azure.AzureClient` and prints one JSON line::

    {"version": 1, "ok": true, "result": {...}}
    {"version": 1, "ok": false, "error": {"type": "AzureForbiddenError", "message": "...",
                                          "status": 403, "code": "AuthorizationFailed"}}

The SDK's ~56 MiB and 0.45 s are paid only while a remediation (or the occasional
connection read) runs, then returned to the OS when the worker exits.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import asdict

from ..core import osio
from ..core.errors import CommandError, ConfigError, S2SError

log = logging.getLogger(__name__)

OPS = ("get-lng", "update-lng", "get-connection", "reset-connection", "get-view")
VIEW_LNG_KEYS = ("id", "name", "location", "ip", "provisioning_state", "fqdn", "address_prefixes")
PROTOCOL = 1
# the worker must find this very package wherever it is installed (venv, vendored tree)
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from s2s_agent.act.azureworker import worker_main; sys.exit(worker_main(sys.argv[1:]))"
)


class AzureCallError(S2SError):
    """A call in the worker failed; ``kind`` is the worker's error class name."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        wrote: bool | None = None,
    ):
        self.kind, self.status, self.code, self.wrote = kind, status, code, wrote
        super().__init__(message)


class AzureWorker:
    def __init__(
        self,
        config_path: str,
        *,
        runner: Callable[..., osio.Result] = osio.run,
        python: str = sys.executable,
        tunnel: str | None = None,
        lng: str | None = None,
    ):
        self.config_path = config_path
        self.tunnel = tunnel  # several Azure tunnels: the worker uses this tunnel's target
        # the LNG key ("cloud/subscription/rg/lng", lowercase) the caller planned for: the
        # worker re-reads the config file, which a reload may have changed meanwhile
        self.lng = lng
        self.runner = runner
        self.python = python

    def call(self, op: str, arg: str | None = None, *, deadline: float = 120.0) -> dict:
        if op not in OPS:
            raise ValueError(f"unknown Azure operation {op!r}")
        root = os.path.dirname(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        )  # above s2s_agent/act/
        argv = [
            self.python,
            "-c",
            _BOOTSTRAP,
            root,
            "-c",
            self.config_path,
            "--deadline",
            f"{deadline:g}",
            *(["--tunnel", self.tunnel] if self.tunnel else []),
            *(["--lng", self.lng] if self.lng else []),
            op,
            *([arg] if arg else []),
        ]
        try:
            res = self.runner(argv, timeout=deadline + 30, ok_codes=(0, 1, 2))
        except CommandError as exc:
            raise AzureCallError(
                "AzureTimeoutError" if exc.timed_out else "WorkerError",
                f"Azure worker for {op} failed: {exc}",
            ) from None
        lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
        try:
            reply = json.loads(lines[-1])
        except (IndexError, ValueError):
            detail = (res.stderr.strip().splitlines() or ["no output"])[-1]
            raise AzureCallError(
                "WorkerError", f"Azure worker for {op} gave no answer: {detail}"
            ) from None
        if reply.get("ok"):
            return reply.get("result") or {}
        err = reply.get("error") or {}
        raise AzureCallError(
            str(err.get("type", "AzureError")),
            str(err.get("message", "unknown error")),
            status=err.get("status"),
            code=err.get("code"),
            wrote=err.get("wrote") if isinstance(err.get("wrote"), bool) else None,
        )


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps({"version": PROTOCOL, **obj}) + "\n")
    sys.stdout.flush()


def _error_of(exc: S2SError) -> dict:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "status": getattr(exc, "status", None),
        "code": getattr(exc, "code", None),
    }


def _view_connections(cfg, target) -> list[str]:
    """The distinct connections of the tunnels on ``target``'s LNG (active-active: one)."""
    names = [t.azure.connection for t in cfg.azure_tunnels() if t.azure.lng_key == target.lng_key]
    names.append(target.connection)
    out: dict[str, str] = {}
    for n in names:
        if n:
            out.setdefault(n.lower(), n)
    return list(out.values())


def _read_view(client, connections: list[str], deadline: float) -> dict:
    """Azure's view of one LNG and its connections: one process, one token, each read with
    what is left of ``deadline``; a failed read is reported in its place, the others go on."""
    import time

    end = time.monotonic() + deadline

    def left() -> float:
        return max(1.0, end - time.monotonic())

    out: dict = {"lng": None, "lng_error": None, "connections": []}
    try:
        lng = client.get_lng(deadline_s=left()).as_dict()
        out["lng"] = {k: lng.get(k) for k in VIEW_LNG_KEYS}
    except S2SError as exc:
        out["lng_error"] = _error_of(exc)
    for name in connections:
        try:
            view = client.get_connection(deadline_s=left(), name=name).as_dict()
            out["connections"].append({"name": name, "view": view, "error": None})
        except S2SError as exc:
            out["connections"].append({"name": name, "view": None, "error": _error_of(exc)})
    return out


def worker_main(argv: list[str]) -> int:
    """The worker process: one Azure call, one JSON line. Exit 0 ok, 1 Azure error, 2 config."""
    import argparse

    ap = argparse.ArgumentParser(prog="s2s-agent azure worker")
    ap.add_argument("-c", "--config", required=True)
    ap.add_argument("--deadline", type=float, default=120.0)
    ap.add_argument("--tunnel", default=None)
    ap.add_argument("--lng", default=None, help="the LNG key the caller planned for")
    ap.add_argument("op", choices=OPS)
    ap.add_argument("arg", nargs="?")
    args = ap.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from .. import config as config_mod
    from .azure import AzureClient

    try:
        cfg = config_mod.load(args.config)
        target = cfg.azure
        if args.tunnel:
            t = next((t for t in cfg.tunnels if t.name == args.tunnel), None)
            target = t.azure if t is not None else None
            if target is None:
                raise ConfigError(
                    f"tunnel {args.tunnel} has no azure target", path=args.config, key="tunnels"
                )
        if target is None:
            raise ConfigError("is not configured", path=args.config, key="azure")
        if args.lng and "/".join(target.lng_key) != args.lng:
            raise ConfigError(
                f"names LNG {target.local_network_gateway} (subscription "
                f"{target.subscription_id}, resource group {target.resource_group}) now, not the "
                "LNG this remediation was planned for: the file changed while it ran; nothing "
                "was sent, the next plan uses the new config",
                path=args.config,
                key=f"tunnels.{args.tunnel}.azure" if args.tunnel else "azure",
            )
        client = AzureClient(target)
        if args.op == "get-view":
            result = _read_view(client, _view_connections(cfg, target), args.deadline)
        elif args.op == "get-lng":
            result = client.get_lng(deadline_s=args.deadline).as_dict()
        elif args.op == "update-lng":
            if not args.arg:
                raise ConfigError("update-lng needs the new IP", path=args.config)
            result = asdict(client.update_lng_ip(args.arg, deadline_s=args.deadline))
        elif args.op == "get-connection":
            result = client.get_connection(deadline_s=args.deadline).as_dict()
        else:
            client.reset_connection(deadline_s=args.deadline)
            result = {"reset": True}
    except ConfigError as exc:
        _emit({"ok": False, "error": {"type": "ConfigError", "message": str(exc)}})
        return 2
    except S2SError as exc:
        _emit({"ok": False, "error": {**_error_of(exc), "wrote": getattr(exc, "wrote", None)}})
        return 1
    _emit({"ok": True, "result": result})
    return 0
