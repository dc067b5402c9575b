"""Faults on demand: a mutable configuration the server reads live, globally or per session.

A `FaultSpec` names what goes wrong; `Faults` holds the global spec and per-session overrides
(a session's own spec wins over the global one). Counted faults (`http_count`, `stream_count`)
are consumed as requests and streams hit them, so a test can ask for "the next 2 requests".
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

HTTP_SCOPES = (
    "all",
    "create",
    "list",
    "retrieve",
    "update",
    "archive",
    "delete",
    "events_list",
    "send",
    "stream",
)

BAD_BODIES = frozenset({None, "not_json", "bad_items"})


@dataclass(slots=True)
class FaultSpec:
    """What goes wrong. Zero / None values mean "no such fault"."""

    http_status: int | None = None
    http_count: int = 0
    http_scope: str = "all"
    retry_after_secs: float | None = None
    should_retry: bool | None = None
    stream_count: int | None = None
    cut_after_frames: int | None = None
    stall_after_frames: int | None = None
    stall_secs: float = 0.0
    duplicate_every: int = 0
    error_after_frames: int | None = None
    malformed_every: int = 0
    invalid_utf8_every: int = 0
    drop_live: bool = False
    webhook_bad_signature: bool = False
    # Answer the next `http_count` requests in scope with 200 and a body the API never sends:
    # "not_json" (an HTML page, as a misbehaving proxy would) or "bad_items" (JSON whose `data`
    # holds something that is not an object).
    bad_body: str | None = None
    # The API's quirks (spec §1.3, §8), which the simulator's own stamps and ids never show:
    # persist events in runs of `stamp_ties` sharing one `processed_at`, and give events of
    # `empty_id_types` (e.g. `user.interrupt`) an empty `id`.
    stamp_ties: int = 0
    empty_id_types: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FaultSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        spec = cls(**raw)
        if spec.http_scope not in HTTP_SCOPES:
            raise ValueError(f"http_scope must be one of {HTTP_SCOPES}")
        if spec.bad_body not in BAD_BODIES:
            raise ValueError(f"bad_body must be one of {sorted(map(str, BAD_BODIES))} or null")
        return spec

    def has_stream_faults(self) -> bool:
        return any(
            (
                self.cut_after_frames is not None,
                self.stall_after_frames is not None,
                self.duplicate_every,
                self.error_after_frames is not None,
                self.malformed_every,
                self.invalid_utf8_every,
            )
        )


@dataclass(slots=True)
class Faults:
    """The live fault configuration: `sim.faults.set(...)`, `POST /_sim/faults`, `--faults FILE`."""

    global_spec: FaultSpec = field(default_factory=FaultSpec)
    per_session: dict[str, FaultSpec] = field(default_factory=dict)

    def set(self, spec: FaultSpec | dict[str, Any], session_id: str | None = None) -> None:
        value = spec if isinstance(spec, FaultSpec) else FaultSpec.from_dict(spec)
        if session_id is None:
            self.global_spec = value
        else:
            self.per_session[session_id] = value

    def clear(self, session_id: str | None = None) -> None:
        if session_id is None:
            self.global_spec = FaultSpec()
            self.per_session.clear()
        else:
            self.per_session.pop(session_id, None)

    def spec_for(self, session_id: str | None) -> FaultSpec:
        if session_id is not None and session_id in self.per_session:
            return self.per_session[session_id]
        return self.global_spec

    def drop_live(self, session_id: str) -> bool:
        return self.spec_for(session_id).drop_live

    def take_http(self, session_id: str | None, scope: str) -> FaultSpec | None:
        """The spec to answer this request with an error (or a bad body), consuming one of its
        count."""
        spec = self.spec_for(session_id)
        if (spec.http_status is None and spec.bad_body is None) or spec.http_count <= 0:
            return None
        if spec.http_scope not in ("all", scope):
            return None
        spec.http_count -= 1
        return spec

    def take_stream(self, session_id: str) -> FaultSpec | None:
        """The stream faults for a newly opened connection, consuming one of `stream_count`."""
        spec = self.spec_for(session_id)
        if not spec.has_stream_faults():
            return None
        if spec.stream_count is not None:
            if spec.stream_count <= 0:
                return None
            spec.stream_count -= 1
        return spec

    def load(self, raw: dict[str, Any]) -> None:
        """`{"global": {...}, "sessions": {"sesn_…": {...}}}` (the `--faults` file's shape)."""
        self.set(raw.get("global", {}))
        for session_id, spec in raw.get("sessions", {}).items():
            self.set(spec, session_id)
