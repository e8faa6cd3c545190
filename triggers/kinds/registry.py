"""The one trigger-kind registry: every `TriggerKind` subclass declaring a slug in a module
under `triggers/kinds/`.

Discovery, not a hand-kept list (as `actions/registry.py`), so adding a kind is adding a
module plus its fixtures under `tests/fixtures/twilio/<slug-without-prefix>/`; the tests fail
until both exist. The endpoints, the admin and the commands all read from here.
"""

from __future__ import annotations

from functools import cache

from connections.webhook_urls import ENDPOINT_PURPOSES
from triggers.kinds.base import PURPOSES, Params, TriggerKind
from twilioflow.core.errors import NOT_FOUND, TwilioFlowError
from twilioflow.core.registry import discover


@cache
def _kinds() -> dict[str, type[TriggerKind]]:
    import triggers.kinds as package

    found = discover(package, TriggerKind, what="trigger kinds")
    for kind in found.values():
        if kind.purpose not in PURPOSES:
            raise RuntimeError(f"{kind.slug}: unknown purpose {kind.purpose!r}")
        if set(kind.endpoints) - set(ENDPOINT_PURPOSES):
            raise RuntimeError(f"{kind.slug}: unknown endpoints in {kind.endpoints!r}")
    return dict(sorted(found.items(), key=lambda item: (PURPOSES.index(item[1].purpose), item[0])))


def trigger_kinds() -> dict[str, type[TriggerKind]]:
    """slug → kind class, grouped by purpose (messages, voice, status, webhook)."""
    return dict(_kinds())


def trigger_kind_get(slug: str) -> type[TriggerKind]:
    try:
        return _kinds()[slug]
    except KeyError:
        raise TwilioFlowError(NOT_FOUND, f"No trigger kind {slug!r}; known: {', '.join(_kinds())}.") from None


def answering_kind(slug: str) -> type[TriggerKind]:
    """The kind that answers a stored event of kind `slug`: its own, or the contract's
    defaults (an empty <Response/>, nothing done) for a request no kind recognised."""
    return _kinds().get(slug, TriggerKind)


def json_kind(purpose: str) -> type[TriggerKind] | None:
    """The kind that reads a JSON body sent to the `purpose` endpoint, or None (the body is
    then read as a form, like any other request there)."""
    for kind in _kinds().values():
        if kind.reads_json and purpose in kind.endpoints:
            return kind
    return None


def detect(purpose: str, params: Params) -> type[TriggerKind] | None:
    """The kind of a request that arrived on the `purpose` endpoint (or of a kind's
    purpose), or None (an unknown purpose, or a request no kind recognises: answer 200 so
    Twilio does not retry).

    "messages": WhatsApp when From starts with "whatsapp:", else SMS/MMS. "voice": an incoming
    call. "status": recording-status when RecordingStatus is present, else call-status when
    CallStatus is, else message-status when MessageStatus (or legacy SmsStatus) is and there
    is no CallSid. "events" and "webhook": the generic webhook. The kinds' `matches` are mutually
    exclusive within a purpose (the tests check it on every fixture)."""
    for kind in _kinds().values():
        if (purpose == kind.purpose or purpose in kind.endpoints) and kind.matches(params):
            return kind
    return None


def kind_choices() -> list[tuple[str, str]]:
    return [(slug, kind.title) for slug, kind in _kinds().items()]
