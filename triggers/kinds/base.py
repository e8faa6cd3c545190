"""The trigger-kind contract. One module per kind under `triggers/kinds/`, each a subclass of
`TriggerKind` declaring slug, title, description, the endpoint `purpose` it arrives on and a
realistic `sample`, and implementing `matches`, `parse` and `dedupe_key` as small pure
functions of the request parameters (Zulip's fixture-driven webhook model: every kind has
captured fixtures under `tests/fixtures/twilio/<slug-without-prefix>/`).

`params` is what the endpoint received, Twilio's form parameters with Twilio's own names:
a mapping of str → list[str] (`dict(request.POST.lists())`). A Django `QueryDict` itself
and a plain str → str dict (the `sample`s) are accepted too. Read it through `first()`.

The payload `parse` returns is what a workflow sees as `trigger`. It keeps Twilio's names
(`{{ trigger.From }}`, `{{ trigger.Body }}`) with numbers as ints, plus a few normalised
extras in snake_case (`media`, `keyword`, `from_number`). Keys a workflow is likely to use
are always present (None when Twilio left them out), because an undefined template
variable is an error; the optional extras (geo fields, WhatsApp buttons…) appear only when
Twilio sent a non-empty value, so use `{{ trigger.FromCity|default:"" }}` for those.

A kind also owns what happens when its request arrives (`triggers.events` calls these, never
comparing slugs): `on_receipt` (what it does besides starting runs: delivery tracking,
resuming a waiting run, both through workflow services), `input_wait` (a run that waits for
the caller's input), `answer` / `invalid_answer` (TwiML built with twilio's own builders, or
JSON), and `continue_run` (a follow-up request for a run it started: a call's <Gather>).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from twilio.twiml.messaging_response import MessagingResponse

from actions.validation import WHATSAPP_PREFIX
from connections.webhook_urls import NUMBER_PURPOSES, WEBHOOK

if TYPE_CHECKING:
    from connections.models import Connection
    from triggers.models import Trigger, TriggerEvent
    from workflows.models import Run

# A kind's purpose: the endpoint its requests arrive on (the endpoint purposes are defined in
# `connections.webhook_urls`: "messages", "voice", "status"; "webhook" for the generic
# signed webhook, which also arrives on the connection's "events" URL), or "poll" for a kind
# nothing sends us (we list the account's records on a schedule).
POLL = "poll"
PURPOSES = (*NUMBER_PURPOSES, WEBHOOK, POLL)

TWIML = "application/xml"
JSON = "application/json"

GEO_FIELDS = (
    "FromCity",
    "FromState",
    "FromZip",
    "FromCountry",
    "ToCity",
    "ToState",
    "ToZip",
    "ToCountry",
)

Params = Mapping[str, Any]


# --- reading parameters -------------------------------------------------------------------


def values(params: Params, name: str) -> list[str]:
    """Every value sent for `name` (a repeated form key gives several), in order."""
    getlist = getattr(params, "getlist", None)
    if callable(getlist):  # a QueryDict: `.get()` would give only the last value
        return [str(v) for v in getlist(name)]
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def first(params: Params, name: str, default: str | None = None) -> str | None:
    """The first value sent for `name`, or `default` when it was not sent at all."""
    found = values(params, name)
    return found[0] if found else default


def first_of(params: Params, names: Iterable[str], default: str | None = None) -> str | None:
    """The first non-empty value among `names` (a current name, then its legacy aliases)."""
    for name in names:
        value = first(params, name)
        if value:
            return value
    return default


# Numbers from a payload end up in integer columns (StepRun.delivery_error_code) and in
# loops, so they are bounded by what the smallest column holds (PostgreSQL's integer) and,
# for counts, by what Twilio can send. Anything outside is treated as absent (None); the
# original text stays in the event's params and raw body.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
MAX_MEDIA = 10  # Twilio: at most 10 media per message (MediaUrl0..MediaUrl9)
# Twilio refuses bodies over 1600 characters, i.e. at most 24 UCS-2 segments; headroom for
# carriers that split differently.
MAX_SEGMENTS = 100
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")
_COUNT = re.compile(r"\+?[0-9]+")


def to_int(value: str | None, *, low: int = INT_MIN, high: int = INT_MAX) -> int | None:
    """ "42" → 42; a missing, blank, non-numeric or out-of-range (`low`..`high`) value → None.

    Only ASCII digits (no "1_000", no "٤٢"), and at most 19 of them: `int()` on a 5,000-digit
    string raises (Python's int-str limit) or costs quadratic time before we can bound it."""
    if value is None:
        return None
    text = str(value).strip()
    if not _INTEGER.fullmatch(text):
        return None
    number = int(text)
    return number if low <= number <= high else None


def to_count(value: str | None, maximum: int) -> int | None:
    """A count Twilio sends (NumMedia…): garbage or negative → None, larger than Twilio can
    send (however many digits) → `maximum`."""
    text = str(value).strip() if value is not None else ""
    if not _COUNT.fullmatch(text):
        return None
    return min(int(text), maximum) if len(text) <= 19 else maximum


def present(params: Params, names: Iterable[str], *, numeric: Iterable[str] = ()) -> dict[str, Any]:
    """The named parameters Twilio sent with a non-empty value (the rest left out), those in
    `numeric` as ints. Twilio sends geo fields it cannot resolve as "", so "" is absence."""
    numeric = set(numeric)
    found: dict[str, Any] = {}
    for name in names:
        value = first(params, name)
        if value:
            found[name] = to_int(value) if name in numeric else value
    return found


def strip_channel(address: str | None) -> str | None:
    """ "whatsapp:+14155550123" → "+14155550123"; other addresses unchanged."""
    if address and address.lower().startswith(WHATSAPP_PREFIX):
        return address[len(WHATSAPP_PREFIX) :]
    return address


def media_of(params: Params) -> list[dict[str, str | None]]:
    """[{url, content_type}] from MediaUrl{N}/MediaContentType{N} for N < NumMedia ≤ 10.

    The bound matters: NumMedia=10000000 in a 433-byte request used to cost ~10 s of CPU."""
    media = []
    for index in range(to_count(first(params, "NumMedia"), MAX_MEDIA) or 0):
        url = first(params, f"MediaUrl{index}")
        if url:
            media.append({"url": url, "content_type": first(params, f"MediaContentType{index}")})
    return media


def join_key(*parts: str | None) -> str | None:
    """ "SID:status[:more]" from the non-empty parts; None without the leading SID."""
    if not parts or not parts[0]:
        return None
    return ":".join(part.strip() for part in parts if part and part.strip())


# --- what a kind answers and does on receipt ---------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What an endpoint answers. Stored on the event, so a redelivery gets it again."""

    body: str
    content_type: str = TWIML
    status: int = 200


def json_answer(data: Any) -> Answer:
    return Answer(json.dumps(data), JSON)


@dataclass(frozen=True)
class Receipt:
    """What a kind did with an event before its triggers fire (`TriggerKind.on_receipt`).

    `match_status`: what the event is marked ("tracked", "resumed"; "" for nothing).
    `resumed`: a waiting run took the event, so only triggers that fire while a run waits
    start, and the event stays `match_status` even when they do."""

    match_status: str = ""
    resumed: bool = False


NOTHING = Receipt()
TRACKED = Receipt("tracked")  # a status callback landed on the step that sent the message/call
RESUMED = Receipt("resumed", resumed=True)  # a run waiting for this reply took it


# --- the contract -------------------------------------------------------------------------


class TriggerKind:
    slug: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    purpose: ClassVar[str]
    # The endpoints (`connections.webhook_urls` purposes) its requests arrive on. By default
    # the one its purpose names; none for a polling kind.
    endpoints: ClassVar[tuple[str, ...]] = ()
    # Whether a JSON body on one of its endpoints is read (with `parse_json`), not a form.
    reads_json: ClassVar[bool] = False
    # Form params as Twilio posts them (str → str), for `send_test_webhook` and the docs.
    sample: ClassVar[dict[str, str]] = {}
    # Status kinds: the parameter naming the event and the values Twilio documents for it.
    event_field: ClassVar[str | None] = None
    events: ClassVar[tuple[str, ...]] = ()
    # Payload keys present only when Twilio sent them (geo fields…), beyond the sample's:
    # the workflow editor offers them and accepts them in templates.
    optional_fields: ClassVar[tuple[str, ...]] = ()
    # Payload keys holding free-form data (a webhook's `data`): anything below them is allowed.
    open_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def matches(cls, params: Params) -> bool:
        """Is this request of this kind, given that it arrived on `cls.purpose`?"""
        return True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        purpose = getattr(cls, "purpose", None)
        if "endpoints" not in vars(cls) and purpose is not None:
            cls.endpoints = (purpose,) if purpose != POLL else ()

    @classmethod
    def parse(cls, params: Params) -> dict[str, Any]:
        """The payload a workflow sees as `trigger`."""
        raise NotImplementedError

    @classmethod
    def parse_json(cls, body: Any) -> dict[str, Any]:
        """The payload of a JSON body (kinds that set `reads_json`)."""
        raise NotImplementedError

    # Parameters Twilio always sends for this kind; a tuple lists aliases (any one will do).
    # A signed request missing one is stored as invalid and starts nothing.
    required: ClassVar[tuple[str | tuple[str, ...], ...]] = ()

    @classmethod
    def dedupe_key(cls, params: Params) -> str | None:
        """The request's identity from its signed content (SID + status…), which makes a
        redelivery or a replay a duplicate. None: the request has no identity, and the
        endpoint keys it by a hash of its signed content instead."""
        return None

    @classmethod
    def missing(cls, params: Params) -> list[str]:
        """The `required` parameters absent or blank in `params` (aliases joined by "/")."""
        absent = []
        for names in cls.required:
            names = (names,) if isinstance(names, str) else names
            if not any((value or "").strip() for value in (first(params, n) for n in names)):
                absent.append("/".join(names))
        return absent

    # --- receiving (called by `triggers.events`, inside the event's transaction) -----------
    # True when `on_receipt` only resumes runs waiting for a reply: the event service then
    # skips it when the connection has no open wait (known without a query).
    resumes_waiting_runs: ClassVar[bool] = False

    @classmethod
    def on_receipt(cls, *, event: TriggerEvent, connection: Connection) -> Receipt:
        """What the event does besides starting runs, before its triggers fire. Writes to
        runs go through workflow services (`workflows.inbound`), scoped to `connection`."""
        return NOTHING

    @classmethod
    def on_stored(cls, *, event: TriggerEvent, connection: Connection) -> None:
        """Writes every first delivery of a valid event of this kind makes, whatever matched,
        inside its transaction (an inbound message: consent keywords, the contact's last
        message). The answer never depends on them: `answer` reads, it does not write."""

    # True when `answer` needs neither the stored event's id nor the runs it started (only
    # the event's content and the matching triggers): the event service then works it out
    # before its write transaction and stores the event with its answer in one INSERT. A
    # call's answer names its run, a webhook's its event id: those keep the default.
    answers_before_storing: ClassVar[bool] = False

    @classmethod
    def input_wait(cls, trigger: Trigger) -> timedelta | None:
        """How long the run of the answering trigger (the first that matched) waits for the
        input its answer asks for; None: the run starts right away."""
        return None

    @classmethod
    def answer(
        cls, *, event: TriggerEvent, matching: Sequence[Trigger], runs: Sequence[Run], base_url: str
    ) -> Answer:
        """The answer to a stored event (reads only). `matching` are the enabled matching
        triggers, in order, and `runs` the runs they started (empty when the kind
        `answers_before_storing`); the first trigger is the answering one.
        `base_url` is the address the request was sent to, up to "/hooks/twilio/"."""
        return cls.empty_answer()

    @classmethod
    def empty_answer(cls) -> Answer:
        """An answer that does nothing: an empty <Response/> (what Twilio expects)."""
        return Answer(str(MessagingResponse()))

    @classmethod
    def invalid_answer(cls, event: TriggerEvent) -> Answer:
        """The answer to an invalid event: 2xx, so that Twilio stops retrying a request that
        can never become valid, and nothing else."""
        return cls.empty_answer()

    @classmethod
    def continue_run(cls, *, run: Run, params: dict[str, list[str]]) -> Answer:
        """A follow-up request (signed by the run's trigger's connection) for a run a trigger
        of this kind started. By default nothing changes."""
        return cls.empty_answer()

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "slug": cls.slug,
            "title": cls.title,
            "description": cls.description,
            "purpose": cls.purpose,
            "events": list(cls.events),
            "sample_payload": cls.parse(cls.sample),
            "optional_fields": list(cls.optional_fields),
        }
