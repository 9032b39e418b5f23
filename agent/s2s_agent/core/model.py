"""The one data model every SA source (stroke, swanctl text, VICI) is parsed into.

The JSON form (``to_dict``) is the stable contract of ``s2s-agent parse``:

    {"ike_sas": [
        {"name": str, "uniqueid": int|null, "state": str|null, "version": int|null,
         "local_host": str|null, "remote_host": str|null,
         "local_id": str|null, "remote_id": str|null,
         "established_seconds": int|null,
         "child_sas": [
            {"name": str, "uniqueid": int|null, "state": str|null, "mode": str|null,
             "bytes_in": int|null, "bytes_out": int|null,
             "packets_in": int|null, "packets_out": int|null,
             "local_ts": [str], "remote_ts": [str]}]}]}

States are strongSwan's own words, upper case (``ESTABLISHED``, ``CONNECTING``,
``INSTALLED``, ``REKEYING`` ...). ``mode`` is ``TUNNEL``, ``TRANSPORT``, ``BEET`` ...
(the ``-in-UDP`` suffix of swanctl is dropped). ``null`` means the source did not show it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ChildSa:
    name: str
    uniqueid: int | None = None
    state: str | None = None
    mode: str | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None
    packets_in: int | None = None
    packets_out: int | None = None
    local_ts: tuple[str, ...] = ()
    remote_ts: tuple[str, ...] = ()


@dataclass(frozen=True)
class IkeSa:
    name: str
    uniqueid: int | None = None
    state: str | None = None
    version: int | None = None
    local_host: str | None = None
    remote_host: str | None = None
    local_id: str | None = None
    remote_id: str | None = None
    established_seconds: int | None = None
    child_sas: tuple[ChildSa, ...] = ()

    def to_fields(self) -> tuple:
        """Everything but the CHILD SAs (to compare two readings of one IKE SA)."""
        return tuple(getattr(self, f) for f in _IKE_FIELDS)

    # not in the JSON contract: a line of this SA (or one that may have been one of its
    # CHILD SAs' first line) could not be read, so a missing CHILD SA proves nothing
    damaged: bool = field(default=False, compare=False)


_IKE_FIELDS = (
    "name",
    "uniqueid",
    "state",
    "version",
    "local_host",
    "remote_host",
    "local_id",
    "remote_id",
    "established_seconds",
)


@dataclass(frozen=True)
class SaSnapshot:
    """``warnings``: what a text parser skipped (one line each, "line N: why").
    ``unattributed``: some skipped line could not be tied to any SA, so an SA missing
    from the snapshot may be the one it described. Neither is part of ``to_dict()``
    (``s2s-agent parse`` adds ``"warnings"`` next to ``"ike_sas"`` when there are any)."""

    ike_sas: tuple[IkeSa, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = ()
    unattributed: bool = False

    @property
    def partial(self) -> bool:
        """True when some of the output could not be read."""
        return bool(self.warnings)

    def to_dict(self, *, warnings: bool = False) -> dict:
        """The JSON contract; ``warnings=True`` adds ``"warnings": [str]`` when a text
        parser skipped something (the key is absent otherwise)."""
        out = []
        for ike in self.ike_sas:
            d = asdict(ike)
            d.pop("damaged", None)
            d["child_sas"] = [
                {**asdict(c), "local_ts": list(c.local_ts), "remote_ts": list(c.remote_ts)}
                for c in ike.child_sas
            ]
            out.append(d)
        if warnings and self.warnings:
            return {"ike_sas": out, "warnings": list(self.warnings)}
        return {"ike_sas": out}

    @classmethod
    def from_dict(cls, data: dict) -> SaSnapshot:
        ikes = []
        for i in data.get("ike_sas", []):
            children = tuple(
                ChildSa(
                    **{
                        **c,
                        "local_ts": tuple(c.get("local_ts", ())),
                        "remote_ts": tuple(c.get("remote_ts", ())),
                    }
                )
                for c in i.get("child_sas", [])
            )
            ikes.append(IkeSa(**{**i, "child_sas": children}))  # "damaged" is not serialised
        return cls(tuple(ikes))

    def by_name(self, name: str) -> list[IkeSa]:
        """All IKE SAs of one connection (there may be several during a reauth/rekey)."""
        return [i for i in self.ike_sas if i.name == name]


@dataclass(frozen=True)
class LogEvent:
    """One classified charon log line (``s2s-agent parse log`` prints these as JSON).

    ``time``: ISO 8601 string or None; ``conn``: IKE connection name from charon's
    ``<name|id>`` prefix or None; ``kind``: one of ``LOG_KINDS``; ``message``: the text
    after charon's ``NN[GRP]`` prefix (or the whole line when it has none).
    """

    time: str | None
    conn: str | None
    kind: str
    message: str
    ike_id: int | None = None

    def to_dict(self) -> dict:
        return {"time": self.time, "conn": self.conn, "kind": self.kind, "message": self.message}


LOG_KINDS = (
    "ike_established",
    "child_established",
    "ike_deleted",
    "child_deleted",
    "dpd_request",
    "retransmit",
    "retransmit_giveup",
    "auth_failed",
    "no_proposal",
    "ts_unacceptable",
    "peer_config_not_found",
    "address_change",
    "other",
)
