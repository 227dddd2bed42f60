"""A journey's published versions with what each changed against the one before (the semantic diff of the
builder), and the draft's token: the console's journey versions page lists them and restores one as the draft
(``journey_drafts.restore_version``, If-Match on that token, audit ``journey.restore``)."""

from __future__ import annotations

from dataclasses import dataclass

from touchflow.domain.journeys.diff import JourneyDiff, diff_journeys
from touchflow.domain.journeys.ports import JourneyVersionInfo
from touchflow.domain.journeys.transitions import ACTIVE_STATUSES
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services.context import ServiceContext
from touchflow.services.journey_drafts import read_draft
from touchflow.services.journeys import JourneyError

__all__ = ["JourneyHistory", "VersionChange", "journey_history"]


@dataclass(frozen=True, slots=True)
class VersionChange:
    info: JourneyVersionInfo
    live: bool
    changes: JourneyDiff | None  # against the version before it; None: the first version


@dataclass(frozen=True, slots=True)
class JourneyHistory:
    key: str
    name: str
    live_version: int | None
    draft_token: str  # restoring checks it, as a save's If-Match does
    versions: tuple[VersionChange, ...]  # newest first


def _data(text: str | None) -> dict[str, object]:
    found = load_yaml(text) if text and text.strip() else {}
    return found if isinstance(found, dict) else {}


def journey_history(ctx: ServiceContext, key: str) -> JourneyHistory:
    """Every published version, newest first, each with its change summary against the one before."""
    with ctx.reader() as uow:
        record = uow.journeys.get(key)
        if record is None:
            raise JourneyError(f"no journey {key}")
        infos = uow.journeys.versions(record.id, ACTIVE_STATUSES)
        texts = {i.version: uow.journeys.source_text(record.id, i.version) for i in infos}
    token = read_draft(ctx, key).token
    ordered = sorted(infos, key=lambda i: i.version)
    out: list[VersionChange] = []
    previous: dict[str, object] | None = None
    for info in ordered:
        data = _data(texts[info.version])
        out.append(VersionChange(info, info.version == record.current_version,
                                 None if previous is None else diff_journeys(previous, data)))
        previous = data
    return JourneyHistory(record.key, record.name, record.current_version, token, tuple(reversed(out)))
