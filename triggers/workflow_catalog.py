"""The triggers layer's answers to the workflow editor (`workflows.trigger_catalog`): each
kind's payload fields and sample, a workflow's trigger kinds and its last real event."""

from __future__ import annotations

from typing import Any

from triggers.kinds.registry import trigger_kinds
from triggers.models import Trigger, TriggerEvent
from workflows.trigger_catalog import KindInfo, trigger_catalog_register


class _Catalog:
    def kinds(self) -> dict[str, KindInfo]:
        infos = {}
        for slug, kind in trigger_kinds().items():
            sample = kind.parse(kind.sample)
            fields = list(sample)
            fields += [name for name in kind.optional_fields if name not in sample]
            infos[slug] = KindInfo(
                slug=slug,
                title=kind.title,
                sample_payload=sample,
                fields=tuple(fields),
                open_keys=tuple(kind.open_fields),
            )
        return infos

    def kinds_of(self, workflow_id: int) -> list[str]:
        return list(
            Trigger.objects.filter(workflow_id=workflow_id).order_by("id").values_list("kind", flat=True)
        )

    def last_payload(self, workflow_id: int) -> dict[str, Any] | None:
        event = (
            TriggerEvent.objects.filter(runs__workflow_id=workflow_id)
            .order_by("-received_at", "-id")
            .values("payload")
            .first()
        )
        return event["payload"] if event else None


def workflow_catalog_register() -> None:
    trigger_catalog_register(_Catalog())
