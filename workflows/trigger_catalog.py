"""What the workflow editor knows about triggers, supplied by the triggers layer.

The step editor (variable browser, preview, the save-time check of undefined variables) and
"Run now" need each trigger kind's payload fields and sample, and a workflow's triggers and
last real event. Those live in `triggers`, a layer above this one, so `triggers` registers a
`TriggerCatalog` in its `AppConfig.ready` (like `workflows.step_hooks`); without one (a
project without the triggers app) the editor simply knows no trigger kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class KindInfo:
    slug: str
    title: str
    sample_payload: dict[str, Any]
    # Top-level payload keys a template may use: the sample's keys plus the optional ones
    # Twilio sends only sometimes (geo fields…). `open_keys` hold free-form data below them.
    fields: tuple[str, ...] = ()
    open_keys: tuple[str, ...] = field(default=())


class TriggerCatalog(Protocol):
    def kinds(self) -> dict[str, KindInfo]:
        """slug -> what a workflow sees of that kind's payload."""
        ...

    def kinds_of(self, workflow_id: int) -> list[str]:
        """The kinds of the workflow's saved triggers, in order."""
        ...

    def last_payload(self, workflow_id: int) -> dict[str, Any] | None:
        """The payload of the last real event that started the workflow, or None."""
        ...


_CATALOG: list[TriggerCatalog] = []


def trigger_catalog_register(catalog: TriggerCatalog) -> None:
    _CATALOG[:] = [catalog]


def trigger_kind_infos() -> dict[str, KindInfo]:
    return _CATALOG[0].kinds() if _CATALOG else {}


def trigger_kinds_of(workflow_id: int | None) -> list[str]:
    if not _CATALOG or not workflow_id:
        return []
    return _CATALOG[0].kinds_of(workflow_id)


def last_trigger_payload(workflow_id: int | None) -> dict[str, Any] | None:
    if not _CATALOG or not workflow_id:
        return None
    return _CATALOG[0].last_payload(workflow_id)


def sample_payload(kind_slugs: list[str]) -> dict[str, Any]:
    """The sample payload of the first known kind in `kind_slugs` ({} when none)."""
    infos = trigger_kind_infos()
    for slug in kind_slugs:
        if slug in infos:
            return dict(infos[slug].sample_payload)
    return {}
