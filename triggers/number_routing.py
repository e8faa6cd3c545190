"""Route a number's webhooks to TwilioFlow, or restore the previous ones, as audited runs.

Each operation is an ad-hoc run (source `admin`, no workflow) with one step per number: the
`twilio/configure-phone-number-webhooks` action, executed by a worker like any run, its
exchanges kept on the step run. Two step hooks (`workflows.step_hooks`) keep the number's
row in step with Twilio:

- before routing: the number's current webhooks are fetched fresh from Twilio and committed
  to `previous_webhooks` *before* the update request (kept as they are when already
  recorded: routing again never records our own URLs as "previous");
- after a step succeeded: Twilio's answer is copied onto the row and it is marked routed
  (or restored: `previous_webhooks` forgotten). A failed step changes nothing else.

Restoring sends the recorded values exactly; a URL that was empty is cleared (`clear`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connections.webhook_urls import UNREACHABLE_HELP, public_base_url, unreachable_reason, webhook_urls
from triggers.models import PhoneNumber
from triggers.numbers import clip_to_field, numbers_path
from twilioflow.core import clock
from twilioflow.core.errors import VALIDATION_ERROR, TwilioFlowError
from workflows.models import OnError, Run, StepKind, StepRun, StepStatus
from workflows.services import run_create, run_execute_inline
from workflows.step_hooks import step_hook_register

CONFIGURE_ACTION = "twilio/configure-phone-number-webhooks"
ROUTE_HOOK = "triggers.number_route"
RESTORE_HOOK = "triggers.number_restore"
# What we record before routing, and put back on restore: Twilio's names on the number.
WEBHOOK_FIELDS = (
    "sms_url",
    "sms_method",
    "voice_url",
    "voice_method",
    "status_callback",
    "status_callback_method",
)
# Twilio's update parameter for each recorded field.
TWILIO_PARAMS = {
    "sms_url": "SmsUrl",
    "sms_method": "SmsMethod",
    "voice_url": "VoiceUrl",
    "voice_method": "VoiceMethod",
    "status_callback": "StatusCallback",
    "status_callback_method": "StatusCallbackMethod",
}
METHOD_FIELDS = ("sms_method", "voice_method", "status_callback_method")
NO_AUTH_TOKEN = (
    "This connection has no Auth Token, so Twilio's webhook signatures cannot be checked and "
    "every request would be refused. Add the Auth Token to the connection first."
)


@dataclass
class NumbersStarted:
    """The runs started (one per workspace) and the numbers refused before any run."""

    runs: list[Run] = field(default_factory=list)
    refused: list[tuple[PhoneNumber, TwilioFlowError]] = field(default_factory=list)


# --- starting the runs --------------------------------------------------------------------------
def _route_inputs(
    number: PhoneNumber, base_url: str | None, *, require_reachable: bool = True
) -> dict[str, Any]:
    if not number.connection.can_verify_webhooks:
        raise TwilioFlowError(VALIDATION_ERROR, NO_AUTH_TOKEN)
    urls = webhook_urls(connection=number.connection, base_url=base_url)
    if require_reachable:
        base = public_base_url(base_url)
        reason = unreachable_reason(base)
        if reason:
            raise TwilioFlowError(
                VALIDATION_ERROR,
                f"Not routed: Twilio cannot reach {base} ({reason}). {UNREACHABLE_HELP}",
            )
    return {
        "phoneNumberSid": number.sid,
        "SmsUrl": urls["messages"],
        "SmsMethod": "POST",
        "VoiceUrl": urls["voice"],
        "VoiceMethod": "POST",
        "StatusCallback": urls["status"],
        "StatusCallbackMethod": "POST",
    }


def _restore_inputs(number: PhoneNumber, base_url: str | None = None) -> dict[str, Any]:
    previous = number.previous_webhooks
    if not isinstance(previous, dict) or not previous:
        raise TwilioFlowError(
            VALIDATION_ERROR,
            f"{number.phone_number} has no previous webhooks recorded (it was not routed to "
            "TwilioFlow here), so there is nothing to restore.",
        )
    values = {name: str(previous.get(name) or "") for name in WEBHOOK_FIELDS}
    for name in METHOD_FIELDS:
        values[name] = values[name] or "POST"  # Twilio's default; it refuses an empty method
    inputs: dict[str, Any] = {"phoneNumberSid": number.sid}
    clear = []
    for name, value in values.items():
        if value:
            inputs[TWILIO_PARAMS[name]] = value
        else:
            clear.append(TWILIO_PARAMS[name])  # only URLs can be empty here
    if clear:
        inputs["clear"] = clear
    return inputs


def _start(
    numbers: Iterable[PhoneNumber],
    *,
    verb: str,
    hook: str,
    inputs_for,
    base_url: str | None,
    source: str,
    enqueue: bool,
) -> NumbersStarted:
    started = NumbersStarted()
    steps: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for number in numbers:
        try:
            inputs = inputs_for(number, base_url)
        except TwilioFlowError as error:
            started.refused.append((number, error))
            continue
        names = {step["name"] for step in steps[number.connection.workspace_id]}
        name = f"{verb} {number.phone_number or number.sid}"
        if name in names:
            name = f"{name} ({number.sid[-6:]})"
        steps[number.connection.workspace_id].append(
            {
                "name": name[:63],
                "kind": StepKind.ACTION,
                "action": CONFIGURE_ACTION,
                "connection_id": number.connection_id,
                "inputs": inputs,
                "literal": True,
                # One number failing does not stop the others; each shows on its own step.
                "on_error": OnError.CONTINUE,
                "max_retries": 0,
                "hook": hook,
                "hook_args": {"phone_number_id": number.pk},
            }
        )
    for workspace_id, workspace_steps in steps.items():
        started.runs.append(
            run_create(
                adhoc_steps=workspace_steps,
                workspace_id=workspace_id,
                source=source,
                search_source={"To": " ".join(s["name"].split(" ", 1)[1] for s in workspace_steps)},
                enqueue=enqueue,
            )
        )
    return started


def numbers_route_start(
    *,
    numbers: Iterable[PhoneNumber],
    base_url: str | None = None,
    source: str = "admin",
    enqueue: bool = True,
    require_reachable: bool = True,
) -> NumbersStarted:
    """Runs that point each number's SMS, voice and status webhooks (all POST) at its
    connection's URLs, enqueued for a worker. A number that cannot be routed (no public
    base URL, no Auth Token, or a base URL Twilio cannot reach: plain http, localhost, a
    private range; `require_reachable=False` overrides that one, for superusers who know
    better) is refused before any run; nothing is sent in this process."""

    def inputs_for(number: PhoneNumber, base: str | None) -> dict[str, Any]:
        return _route_inputs(number, base, require_reachable=require_reachable)

    return _start(
        numbers,
        verb="route",
        hook=ROUTE_HOOK,
        inputs_for=inputs_for,
        base_url=base_url,
        source=source,
        enqueue=enqueue,
    )


def numbers_restore_start(
    *, numbers: Iterable[PhoneNumber], source: str = "admin", enqueue: bool = True
) -> NumbersStarted:
    """Runs that put back the webhooks recorded before routing (an empty URL is cleared).
    A number with nothing recorded is refused before any run."""
    return _start(
        numbers,
        verb="restore",
        hook=RESTORE_HOOK,
        inputs_for=_restore_inputs,
        base_url=None,
        source=source,
        enqueue=enqueue,
    )


# --- one number, here and now (commands, tests) ---------------------------------------------------
def _inline(started: NumbersStarted) -> None:
    if started.refused:
        raise started.refused[0][1]
    run = run_execute_inline(started.runs[0].pk)
    failed = (
        StepRun.objects.filter(run=run)
        .exclude(status=StepStatus.SUCCEEDED)
        .order_by("-sequence", "-attempt")
        .first()
    )
    if failed is not None:
        raise TwilioFlowError(
            failed.error_code or "PROVIDER_ERROR", failed.error_message, twilio_code=failed.twilio_error_code
        )


def number_route(*, number: PhoneNumber, base_url: str | None = None, source: str = "command") -> PhoneNumber:
    """Route one number through a run executed in this process; raise the step's error."""
    _inline(numbers_route_start(numbers=[number], base_url=base_url, source=source, enqueue=False))
    number.refresh_from_db()
    return number


def number_restore(*, number: PhoneNumber, source: str = "command") -> PhoneNumber:
    """Restore one number through a run executed in this process; raise the step's error."""
    _inline(numbers_restore_start(numbers=[number], source=source, enqueue=False))
    number.refresh_from_db()
    return number


# --- the step hooks ---------------------------------------------------------------------------------
def _number(args: dict[str, Any]) -> PhoneNumber:
    try:
        return PhoneNumber.objects.select_related("connection").get(pk=args["phone_number_id"])
    except (KeyError, PhoneNumber.DoesNotExist):
        raise TwilioFlowError(
            VALIDATION_ERROR, "The phone number is no longer synced here; nothing was sent."
        ) from None


def _route_before(*, args: dict[str, Any], client, inputs: dict[str, Any]) -> None:
    """Record the number's current webhooks (fresh from Twilio) before the update."""
    number = _number(args)
    if number.previous_webhooks is not None:
        return
    record = client.get(numbers_path(client, number.sid)).json() or {}
    previous = {name: str(record.get(name) or "") for name in WEBHOOK_FIELDS}
    # Conditional: two routings racing cannot record our own URLs as "previous". Committed
    # at once (the engine holds no transaction): whatever happens to the update, what to
    # restore is already recorded.
    PhoneNumber.objects.filter(pk=number.pk, previous_webhooks__isnull=True).update(
        previous_webhooks={**previous, "recorded_at": clock.now().isoformat()}
    )


def _restore_before(*, args: dict[str, Any], client, inputs: dict[str, Any]) -> None:
    _number(args)  # still here


def _apply(number: PhoneNumber, record: dict[str, Any], methods: dict[str, str]) -> list[str]:
    """Copy Twilio's answer onto the row; the fields changed."""
    number.sms_url = clip_to_field(record.get("sms_url"), "sms_url")
    number.voice_url = clip_to_field(record.get("voice_url"), "voice_url")
    number.status_callback = clip_to_field(record.get("status_callback"), "status_callback")
    number.sms_method = clip_to_field(record.get("sms_method") or methods.get("sms_method"), "sms_method")
    number.voice_method = clip_to_field(
        record.get("voice_method") or methods.get("voice_method"), "voice_method"
    )
    fields = ["sms_url", "voice_url", "status_callback", "sms_method", "voice_method"]
    for name in ("phone_number", "friendly_name"):
        if record.get(name):
            setattr(number, name, clip_to_field(record[name], name))
            fields.append(name)
    return fields


def _route_after(*, args: dict[str, Any], output: dict[str, Any]) -> None:
    number = PhoneNumber.objects.filter(pk=int(args.get("phone_number_id") or 0)).first()
    if number is None:
        return
    fields = _apply(number, output or {}, {"sms_method": "POST", "voice_method": "POST"})
    number.routed_at = clock.now()
    number.save(update_fields=[*fields, "routed_at"])


def _restore_after(*, args: dict[str, Any], output: dict[str, Any]) -> None:
    number = PhoneNumber.objects.filter(pk=int(args.get("phone_number_id") or 0)).first()
    if number is None:
        return
    methods = {name: str((number.previous_webhooks or {}).get(name) or "POST") for name in METHOD_FIELDS}
    fields = _apply(number, output or {}, methods)
    number.previous_webhooks = None
    number.routed_at = None
    number.save(update_fields=[*fields, "previous_webhooks", "routed_at"])


def number_hooks_register() -> None:
    """Called from TriggersConfig.ready."""
    step_hook_register(ROUTE_HOOK, before=_route_before, after=_route_after)
    step_hook_register(RESTORE_HOOK, before=_restore_before, after=_restore_after)
