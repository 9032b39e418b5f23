"""Apply a local identity change to swanctl.conf: write, reload, roll back, converge.

:func:`apply_local_id` checks that the connection is not (also) defined in an included file,
rewrites the local id (:func:`.swanctl_conf.rewrite_local_id`, pure), replaces the file
keeping its bytes, line endings, owner, group, mode and symlink (:mod:`.conffile`), and
reloads charon (``swanctl --load-all --noprompt``). A failed reload puts the original bytes
back and reloads again. A file that is already right is reloaded only when charon has not
loaded it (VICI ``list-conns``): a crash between the write and the reload converges.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable

from ..core import osio
from ..core.errors import LocalApplyError, S2SError, StateError
from . import swanctl_conf as sc
from .conffile import read_raw, replace_preserving
from .crashpoint import crashpoint
from .swanctl_conf import DEFAULT_PATH, MAX_INCLUDE_DEPTH, Change, SwanctlConfError
from .tunnelctl import load_all

log = logging.getLogger(__name__)


def check_includes(path: str, conn: str, *, _depth: int = 0) -> None:
    """Refuse when ``conn`` is (also) defined in a file ``path`` includes (I/O: globbing)."""
    if _depth > MAX_INCLUDE_DEPTH:
        raise SwanctlConfError(f"includes nest deeper than {MAX_INCLUDE_DEPTH} levels", path=path)
    text = _read(path)
    root = sc.parse_tree(text, path)
    base = os.path.dirname(os.path.abspath(path))
    for sec in [root, *root.sections]:
        for pattern, _line in sec.includes:
            full = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)
            for inc in sorted(glob.glob(full)):
                inc_root = sc.parse_tree(_read(inc), inc)
                in_conns = sec.name == "connections" and any(
                    s.name == conn for s in inc_root.sections
                )
                if in_conns or sc.find_conn(inc_root, conn, inc) is not None:
                    raise SwanctlConfError(
                        f"connection '{conn}' is defined in the included file "
                        f"{inc}; s2s-agent edits only {path}: set "
                        "the local id there by hand or point the agent at "
                        "that file",
                        path=path,
                    )
                check_includes(inc, conn, _depth=_depth + 1)


def _read(path: str) -> str:
    return _read_raw(path)[0].decode("utf-8")


def _read_raw(path: str) -> tuple[bytes, os.stat_result]:
    """The exact bytes (CRLF/CR kept) and stat of ``path``; SwanctlConfError if unusable."""
    try:
        raw, st = read_raw(path)
        raw.decode("utf-8")
    except FileNotFoundError:
        raise SwanctlConfError("does not exist (strongswan swanctl.conf path)", path=path) from None
    except UnicodeDecodeError:
        raise SwanctlConfError("is not UTF-8 text", path=path) from None
    except StateError as exc:
        raise SwanctlConfError(str(exc), path=path) from None
    except OSError as exc:
        raise SwanctlConfError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    return raw, st


Reloader = Callable[[], object]
LoadedIds = Callable[[], list[str]]


def _file_ids(text: str, conn: str, path: str) -> list[str]:
    sec = sc.find_conn(sc.parse_tree(text, path), conn, path)
    locals_ = [] if sec is None else [s for s in sec.sections if s.name.startswith("local")]
    return [kv.value.strip() for s in locals_ for kv in s.values if kv.key == "id"]


def _stale_in_charon(
    text: str, conn: str, new_ip: str, path: str, loaded_ids: LoadedIds | None
) -> str | None:
    """Why charon must reload a file that is already right, or None (it has loaded it).

    A crash between the file write and the reload leaves the new id in the file and the old
    one in charon: compare with what charon has *loaded* (VICI ``list-conns``)."""
    if loaded_ids is None or new_ip not in _file_ids(text, conn, path):
        return None
    try:
        loaded = loaded_ids()
    except S2SError as exc:
        return f"cannot ask charon what it loaded ({exc})"
    stale = [i for i in loaded if sc.is_ip(i) and i != new_ip]
    if stale or new_ip not in loaded:
        return f"charon has {', '.join(loaded) or 'no'} local id loaded for {conn}, the file has {new_ip}"
    return None


def apply_local_id(
    conn: str,
    old_ip: str | None,
    new_ip: str,
    *,
    path: str = DEFAULT_PATH,
    swanctl: str = "swanctl",
    uri: str | None = None,
    timeout: float = 15.0,
    runner: Callable[..., osio.Result] = osio.run,
    reload: Reloader | None = None,
    loaded_ids: LoadedIds | None = None,
) -> list[Change]:
    """Rewrite ``conn``'s local IP identity in ``path`` and reload charon's config.

    No change needed → nothing written, ``[]``; reloaded only when charon's *loaded* local
    id (``loaded_ids()``, VICI list-conns) is not the file's (a crash between write and
    reload). The file keeps its bytes, line endings, owner, group and mode; a symlink stays
    a symlink (its target is rewritten). A failed reload → the original bytes are put back
    (also kept in ``<file>.bak``), reloaded again, and LocalApplyError says what happened
    (``rolled_back=True`` when the old file is back and charon reloaded it).
    ``reload`` replaces the swanctl call (tests).
    """
    return apply_local_ids(
        [(conn, old_ip, new_ip, loaded_ids)],
        path=path,
        swanctl=swanctl,
        uri=uri,
        timeout=timeout,
        runner=runner,
        reload=reload,
    )


def apply_local_ids(
    items: list[tuple[str, str | None, str, LoadedIds | None]],
    *,
    path: str = DEFAULT_PATH,
    swanctl: str = "swanctl",
    uri: str | None = None,
    timeout: float = 15.0,
    runner: Callable[..., osio.Result] = osio.run,
    reload: Reloader | None = None,
) -> list[Change]:
    """:func:`apply_local_id` for several connections ``(conn, old_ip, new_ip, loaded_ids)``
    at once: every rewrite in ONE file write and ONE reload (several Azure tunnels after
    one WAN change)."""
    for conn, *_ in items:
        check_includes(path, conn)
    raw, st = _read_raw(path)
    text = raw.decode("utf-8")
    new_text, changes = text, []
    for conn, old_ip, new_ip, _ids in items:
        new_text, more = sc.rewrite_local_id(new_text, conn, old_ip, new_ip, path=path)
        changes.extend(more)
    conn = ", ".join(c for c, *_ in items)

    def do_reload() -> None:
        if reload is not None:
            reload()
        else:
            load_all(swanctl=swanctl, conf_file=path, uri=uri, timeout=timeout, runner=runner)

    if not changes:
        stale = [
            (c, ip, why)
            for c, _old, ip, ids in items
            if (why := _stale_in_charon(text, c, ip, path, ids)) is not None
        ]
        if not stale:
            log.info("%s: connection %s already uses its address (or no IP identity)", path, conn)
            return []
        log.warning("%s: %s; reloading", path, "; ".join(why for *_, why in stale))
        do_reload()  # LocalApplyError: the step fails and the heal is retried
        return [Change(f"connections.{c}.local.id (loaded)", 0, "stale", ip) for c, ip, _ in stale]

    try:
        target = replace_preserving(path, new_text.encode("utf-8"), st, backup=True)
    except StateError as exc:
        raise LocalApplyError("write", str(exc)) from None
    crashpoint("conf-written")  # tests: a crash between the write and the reload
    summary = ", ".join(f"{c.key} {c.old} -> {c.new}" for c in changes)
    try:
        do_reload()
    except S2SError as exc:
        log.error("%s: reload after %s failed: %s; restoring the previous file", path, summary, exc)
        try:
            replace_preserving(path, raw, st)
        except StateError as exc2:
            raise LocalApplyError(
                "load-all",
                f"{path}: reload failed ({exc}) and restoring the "
                f"previous file failed too ({exc2}); the saved copy is "
                f"{target}.bak",
                rolled_back=False,
            ) from None
        try:
            do_reload()
        except S2SError as exc2:
            raise LocalApplyError(
                "load-all",
                f"{path}: reload after {summary} failed ({exc}); "
                "the previous file is restored (also in "
                f"{target}.bak) but reloading it failed too ({exc2}): "
                "check charon, then run swanctl --load-all",
                rolled_back=False,
            ) from None
        raise LocalApplyError(
            "load-all",
            f"{path}: reload after {summary} failed ({exc}); "
            "rolled back to the previous file and reloaded it",
            rolled_back=True,
        ) from None
    log.info("%s: %s; configuration reloaded", path, summary)
    return changes
