"""The send gate: every outbound message and call passes here before its request.

`send_gate(...)` applies, in this order, and stops at the first that says no:

1. suppression      → OPTED_OUT (the contact opted out of this sender or the workspace)
2. quiet hours      → WAIT until the window opens (or QUIET_HOURS when the send says
                      `quiet_hours: fail`); exempt: `transactional: true`, replies to the
                      contact who started the run, workflows whose override turns them off
3. WhatsApp session → WHATSAPP_WINDOW_CLOSED (free-form, no inbound in the last 24 h)
4. sender           → SENDER_INVALID (the From does not fit the channel or destination)
5. cost and size    → SEND_CAP_REACHED (segments per message, daily spend cap)
6. sandbox          → passes, and the caller must use `sandbox_client` instead of sending

A decision that lets the send through also carries the inputs to send (a default
`StatusCallback`, `ShortenUrls`), the estimate, and a ledger row for the spend cap. Actions
that send nothing (`Action.sends` is None) pass unchanged. Callers: the engine's action
step (`workflows/engine/gate.py`), and later campaigns, once per recipient.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from actions.base import Action
from actions.registry import action_get
from actions.segments import segment_info
from compliance.models import SendLedger, SendPolicy
from compliance.policy_cache import GateVersions, policy_for, price_lookup, versions_read
from compliance.quiet import quiet_until, recipient_zones
from compliance.selectors import consent_state, last_inbound, spend_on_day
from compliance.senders import MESSAGING_SERVICE_RE, region_of, sender_problem
from compliance.services import strip_channel
from connections.webhook_urls import webhook_urls
from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.rows import row_insert

SEND = "send"
WAIT = "wait"
REFUSE = "refuse"
WHATSAPP_SESSION = dt.timedelta(hours=24)
SEND_CHANNELS = ("sms", "mms", "whatsapp", "call")


@dataclass
class GateDecision:
    verdict: str  # SEND, WAIT or REFUSE
    inputs: dict[str, Any]  # what to send (SEND): the cleaned inputs plus the gate's defaults
    channel: str | None = None  # "sms", "mms", "whatsapp", "call"; None: not a send
    error: TwilioFlowError | None = None  # REFUSE (and WAIT, as the reason)
    wait_until: dt.datetime | None = None  # WAIT
    sandbox: bool = False
    segments: int = 0
    estimated_cost: Decimal | None = None
    currency: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.verdict == SEND

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "channel": self.channel,
            "sandbox": self.sandbox,
            "segments": self.segments,
            "estimated_cost": None if self.estimated_cost is None else str(self.estimated_cost),
            "currency": self.currency,
            "wait_until": self.wait_until.isoformat() if self.wait_until else None,
            "error": self.error.as_dict() if self.error else None,
        }


def send_channel(action: Action | type[Action], inputs: dict[str, Any]) -> str | None:
    """What the action sends with these inputs: "sms", "mms", "whatsapp", "call" or None."""
    sends = getattr(action, "sends", None)
    if sends == "sms" and inputs.get("MediaUrl"):
        return "mms"
    return sends if sends in SEND_CHANNELS else None


def run_is_sandbox(run: Any) -> bool:
    """A run is sandboxed when its context says `"sandbox": true`, or its parent's does."""
    seen = 0
    while run is not None and seen < 20:
        if isinstance(run.context, dict) and run.context.get("sandbox") is True:
            return True
        run, seen = getattr(run, "parent", None), seen + 1
    return False


def _refuse(code: str, message: str, channel: str, inputs: dict[str, Any], **details: Any) -> GateDecision:
    error = TwilioFlowError(code, message, retryable=False, details=details)
    return GateDecision(REFUSE, inputs, channel, error=error)


def _quiet_window(policy: SendPolicy, workflow_id: int | None) -> tuple[bool, dt.time, dt.time]:
    enabled, start, end = policy.quiet_hours_enabled, policy.quiet_start, policy.quiet_end
    override = (policy.workflow_overrides or {}).get(str(workflow_id)) if workflow_id else None
    if isinstance(override, dict):
        enabled = bool(override.get("quiet_hours_enabled", enabled))
        start = dt.time.fromisoformat(str(override["quiet_start"])) if "quiet_start" in override else start
        end = dt.time.fromisoformat(str(override["quiet_end"])) if "quiet_end" in override else end
    return enabled, start, end


def _is_reply(run: Any, contact: str) -> bool:
    """The run answers the contact who wrote to us (an inbound message started or resumed it)."""
    payload = getattr(run, "trigger_payload", None)
    if not isinstance(payload, dict) or "Body" not in payload:
        return False
    return strip_channel(payload.get("From")) == contact


def send_gate(
    *,
    workspace,
    connection,
    action: str | Action | type[Action],
    inputs: dict[str, Any],
    run: Any = None,
    workflow_id: int | None = None,
    now: dt.datetime | None = None,
    record: bool = True,
    ledger_key: str = "",
    sandbox: bool | None = None,
    versions: GateVersions | None = None,
) -> GateDecision:
    """Decide one send. `inputs` are the action's cleaned inputs (not changed in place).

    `run` (optional) gives the workflow (per-workflow quiet hours), replies (quiet-hours
    exemption) and run-level sandbox; `ledger_key` makes repeated decisions for the same
    attempt count once towards the spend cap (the engine uses "run:<id>:<sequence>");
    `record=False` decides without writing the ledger (a preview). `sandbox` forces it.
    `versions`: the policy and price versions the caller read in its own query
    (`policy_cache.version_columns`); without them, one small query reads them."""
    if isinstance(action, str):
        action = action_get(action)
    inputs = dict(inputs)
    channel = send_channel(action, inputs)
    if channel is None:
        return GateDecision(SEND, inputs)
    now = now or clock.now()
    versions = versions or versions_read(workspace.pk)
    policy = policy_for(workspace, versions.policy)
    to, sender = str(inputs.get("To") or ""), str(inputs.get("From") or "")
    contact = strip_channel(to)
    if workflow_id is None and run is not None:
        workflow_id = getattr(run, "workflow_id", None)

    # 1. Suppression.
    event = (
        consent_state(
            workspace_id=workspace.pk, contact=contact, channel=channel, senders=(strip_channel(sender),)
        )
        if versions.any_consent  # a workspace without a single consent event has no opt-out
        else None
    )
    if event is not None and event.kind == "opt_out":
        scope = f"from {event.sender}" if event.sender else "from this workspace"
        how = event.keyword or event.get_source_display()
        return _refuse(
            errors.OPTED_OUT,
            f"{contact} opted out of {event.get_channel_display()} {scope} "
            f"({how}, {event.at:%Y-%m-%d %H:%M} UTC); not sent. They opt back in by "
            "texting START, or an admin records their consent.",
            channel,
            inputs,
            consent_event=event.pk,
        )

    # 2. Quiet hours, in the recipient's zone(s).
    enabled, start, end = _quiet_window(policy, workflow_id)
    exempt = bool(inputs.get("transactional")) or _is_reply(run, contact)
    if enabled and not exempt:
        zones = recipient_zones(contact, workspace.time_zone)
        until = quiet_until(now, zones, start, end)
        if until is not None:
            names = ", ".join(sorted({z.key for z in zones}))
            message = (
                f"Quiet hours {start:%H:%M}–{end:%H:%M} in {names} for {contact}; "
                f"the window opens at {until.isoformat()}."
            )
            if inputs.get("quiet_hours") == "fail":
                return _refuse(
                    errors.QUIET_HOURS,
                    message + " Not sent (the step says fail).",
                    channel,
                    inputs,
                    opens_at=until.isoformat(),
                )
            error = TwilioFlowError(errors.QUIET_HOURS, message + " Waiting.")
            return GateDecision(WAIT, inputs, channel, error=error, wait_until=until)

    # 3. WhatsApp 24-hour session (free-form only; templates may be sent any time).
    if channel == "whatsapp" and not inputs.get("ContentSid"):
        ours = strip_channel(sender) if not MESSAGING_SERVICE_RE.match(sender) else None
        last = last_inbound(workspace_id=workspace.pk, channel="whatsapp", contact=contact, sender=ours)
        if last is None or now - last >= WHATSAPP_SESSION:
            since = f"last wrote at {last.isoformat()}" if last else "has not written to this sender"
            return _refuse(
                errors.WHATSAPP_WINDOW_CLOSED,
                f"{contact} {since}: free-form WhatsApp is only allowed within 24 hours "
                "of their last message. Send an approved template instead: ContentSid "
                "(HX…) with ContentVariables.",
                channel,
                inputs,
                template_route={"ContentSid": "HX…", "ContentVariables": {"1": "…"}},
            )

    # 4. Sender fits channel and destination.
    problem = sender_problem(channel, sender, to)
    if problem:
        return _refuse(errors.SENDER_INVALID, problem, channel, inputs)

    # 5. Cost and size.
    if channel == "sms":
        segments = segment_info(str(inputs.get("Body") or "")).segments if inputs.get("Body") else 1
    else:
        segments = 1  # an MMS / WhatsApp message is priced per message, a call per minute (≥ 1)
    if channel == "sms" and policy.max_segments and segments > policy.max_segments:
        return _refuse(
            errors.SEND_CAP_REACHED,
            f"The message is {segments} segments; this workspace allows at most "
            f"{policy.max_segments} per message. Shorten it.",
            channel,
            inputs,
            segments=segments,
        )
    price = price_lookup(workspace.pk, versions.prices, region_of(contact), channel)
    cost = price.price * segments if price is not None else None
    currency = price.currency if price is not None else policy.currency
    is_sandbox = (policy.sandbox or run_is_sandbox(run)) if sandbox is None else sandbox
    decision = GateDecision(
        SEND, inputs, channel, sandbox=is_sandbox, segments=segments, estimated_cost=cost, currency=currency
    )
    if price is None:
        decision.notes.append(f"No price for {region_of(contact) or '?'} {channel}: not counted.")
    refusal = _spend(
        decision,
        policy=policy,
        workspace=workspace,
        now=now,
        record=record,
        key=ledger_key,
        contact=contact,
        sender=sender,
    )
    if refusal is not None:
        return refusal

    # 6. Sandbox is the caller's switch (decision.sandbox); the request's defaults:
    _defaults(decision, action=action, connection=connection, policy=policy, sender=sender)
    return decision


def _spend(
    decision: GateDecision,
    *,
    policy: SendPolicy,
    workspace,
    now,
    record: bool,
    key: str,
    contact: str,
    sender: str,
) -> GateDecision | None:
    """Check the daily cap and write the ledger row under the policy's row lock, so that two
    workers cannot both take the last of the budget."""
    cost = decision.estimated_cost or Decimal(0)
    if policy.daily_spend_cap is None:
        # No cap to keep: nothing to read or lock, one INSERT that a repeated attempt (the
        # same key) leaves alone.
        if record:
            _ledger_row(decision, workspace, now=now, key=key, contact=contact, sender=sender, cost=cost)
        return None
    with transaction.atomic():
        if policy.daily_spend_cap is not None:
            SendPolicy.objects.select_for_update().filter(pk=policy.pk).first()
        if key and SendLedger.objects.filter(workspace=workspace, key=key).exists():
            return None  # this attempt was already counted
        if policy.daily_spend_cap is not None and not decision.sandbox and cost:
            if decision.currency == policy.currency:
                spent = spend_on_day(workspace=workspace, moment=now, currency=policy.currency)
                if spent + cost > policy.daily_spend_cap:
                    return _refuse(
                        errors.SEND_CAP_REACHED,
                        f"Today's estimated spend is {spent} {policy.currency}; this "
                        f"send (~{cost}) would pass the daily cap of "
                        f"{policy.daily_spend_cap} {policy.currency}.",
                        decision.channel or "",
                        decision.inputs,
                        spent=str(spent),
                        cap=str(policy.daily_spend_cap),
                    )
            else:
                decision.notes.append(
                    f"Priced in {decision.currency}, cap in {policy.currency}: not counted."
                )
        if record:
            _ledger_row(decision, workspace, now=now, key=key, contact=contact, sender=sender, cost=cost)
    return None


def _ledger_row(decision: GateDecision, workspace, *, now, key: str, contact: str, sender: str, cost) -> None:
    """One INSERT; a concurrent pass of the same attempt (the same key) already counted it."""
    row_insert(
        SendLedger(
            workspace=workspace,
            key=key[:80],
            channel=decision.channel or "",
            contact=contact,
            sender=strip_channel(sender)[:64],
            segments=min(decision.segments, 32767),
            estimated_cost=cost,
            currency=decision.currency,
            price_known=decision.estimated_cost is not None,
            sandbox=decision.sandbox,
            at=now,
        ),
        ignore_conflicts=True,
    )


def _defaults(decision: GateDecision, *, action, connection, policy: SendPolicy, sender: str) -> None:
    fields = action.field_map()
    base = getattr(settings, "PUBLIC_BASE_URL", "")
    if "StatusCallback" in fields and not decision.inputs.get("StatusCallback") and base and connection:
        decision.inputs["StatusCallback"] = webhook_urls(connection=connection)["status"]
    if "ShortenUrls" in fields and policy.shorten_urls and MESSAGING_SERVICE_RE.match(sender):
        decision.inputs["ShortenUrls"] = True
