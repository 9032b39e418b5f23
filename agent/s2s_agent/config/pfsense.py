"""pfSense settings: the ``pfsense:`` config section (the backend lives in :mod:`..act.pfsense`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .reader import Reader

DEFAULT_CONFIG_XML = "/cf/conf/config.xml"


@dataclass(frozen=True)
class PfsenseSettings:
    config_xml: str = DEFAULT_CONFIG_XML
    ikeid: int | None = None
    descr: str | None = None


def parse_pfsense(data: dict | None, path: str, *, multi: bool = False) -> PfsenseSettings:
    """Validate the ``pfsense:`` section of the agent's YAML (pure).

    ``multi``: the tunnels form, where each tunnel names its phase 1 (``tunnels[].pfsense.ikeid``)
    and this section only says where config.xml is."""
    r = Reader(data, "pfsense", path)
    xml = r.text("config_xml", DEFAULT_CONFIG_XML)
    if not os.path.isabs(xml):
        raise r.err("config_xml", f"must be an absolute path, got {xml!r}")
    ikeid = r.get("ikeid", int, None, nullable=True)
    if ikeid is not None and ikeid < 1:
        raise r.err("ikeid", f"must be a phase 1 ikeid (1 or more), got {ikeid}")
    descr = r.text("descr", None, nullable=True)
    if multi and (ikeid is not None or descr is not None):
        raise r.err(
            "ikeid" if ikeid is not None else "descr",
            "names one phase 1, but the tunnels form names each tunnel's phase 1: set "
            "tunnels[].pfsense.ikeid instead",
        )
    if ikeid is None and descr is None and not multi:
        raise r.err("ikeid", "is required (or pfsense.descr, the phase 1 description)")
    r.done()
    return PfsenseSettings(config_xml=xml, ikeid=ikeid, descr=descr)
