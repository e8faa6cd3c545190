"""The one action registry: every `Action` subclass in a module under `actions/twilio/`.

Discovery, not a hand-kept list, so adding an action is adding a module. The admin, the API
and the commands all read from here.
"""

from __future__ import annotations

from functools import cache

from actions.base import GROUPS, Action
from twilioflow.core.errors import NOT_FOUND, TwilioFlowError
from twilioflow.core.registry import discover


@cache
def _actions() -> dict[str, type[Action]]:
    import actions.twilio as package

    found = discover(package, Action, what="actions")
    for action in found.values():
        if action.group not in GROUPS:
            raise RuntimeError(f"{action.slug}: unknown group {action.group!r}")
    return dict(sorted(found.items(), key=lambda item: (GROUPS.index(item[1].group), item[0])))


def action_list() -> list[type[Action]]:
    return list(_actions().values())


def action_get(slug: str) -> Action:
    try:
        return _actions()[slug]()
    except KeyError:
        raise TwilioFlowError(
            NOT_FOUND, f"No action {slug!r}. See `manage.py actions` for the catalogue."
        ) from None


def action_choices() -> list[tuple[str, str]]:
    return [(cls.slug, f"{cls.group}: {cls.title}") for cls in action_list()]
