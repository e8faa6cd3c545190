"""Sandbox mode: every gate check runs, nothing is sent.

`SandboxClient` stands in for the connection's `TwilioClient`. A message or call create is
answered here with a realistic record whose SID is `SB` + 32 hex characters — Twilio's
messages are SM/MM and calls CA, and Twilio issues no SB SIDs for either, so a sandbox SID
can never be mistaken for (or reconciled with) a real one. The exact request is recorded
(the usual redacted `Exchange`, marked with `X-TwilioFlow-Sandbox: true`, and a
`SandboxMessage` row). Reads (GET) still go to Twilio: they send nothing and change nothing.
Any other write is refused with SANDBOX_UNSUPPORTED and nothing is sent."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Callable, Mapping
from email.utils import format_datetime
from typing import Any

from actions.segments import segment_info
from compliance.models import SandboxMessage
from connections.client import Exchange, TwilioClient, TwilioResponse, encode_form
from connections.client.exchange import recorded_request_body, redact_headers, redact_url
from twilioflow.core import clock
from twilioflow.core.errors import TwilioFlowError

SANDBOX_SID_PREFIX = "SB"
SANDBOX_SID_RE = re.compile(r"^SB[0-9a-f]{32}$")
SANDBOX_UNSUPPORTED = "SANDBOX_UNSUPPORTED"
SANDBOX_HEADER = "X-TwilioFlow-Sandbox"
_CREATES = re.compile(r"/2010-04-01/Accounts/[^/]+/(Messages|Calls)\.json$")
# What a simulated status callback walks through.
SIMULATED_STATUSES = {
    "message": ("queued", "sent", "delivered"),
    "call": ("queued", "initiated", "ringing", "in-progress", "completed"),
}


def sandbox_sid() -> str:
    return SANDBOX_SID_PREFIX + secrets.token_hex(16)


def is_sandbox_sid(sid: str | None) -> bool:
    return bool(sid and SANDBOX_SID_RE.match(sid))


def simulated_history(kind: str, at=None) -> list[dict[str, Any]]:
    """The delivery history status callbacks would have written (marked `simulated`)."""
    moment = (at or clock.now()).isoformat()
    return [
        {"status": s, "error_code": None, "at": moment, "simulated": True} for s in SIMULATED_STATUSES[kind]
    ]


class SandboxClient(TwilioClient):
    """A `TwilioClient` that records creates instead of sending them."""

    workspace: Any = None
    connection: Any = None
    on_create: Callable[[str, str], None] | None = None

    @classmethod
    def wrapping(
        cls, real: TwilioClient, *, workspace, connection, on_create: Callable[[str, str], None] | None = None
    ) -> SandboxClient:
        """The same credentials and exchange list as `real` (reads still use them)."""
        client = cls.__new__(cls)
        client.__dict__.update(real.__dict__)
        client.workspace, client.connection, client.on_create = workspace, connection, on_create
        return client

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        params,
        data,
        json_body,
        files,
        headers,
        idempotent: bool,
        timeout,
        secret_fields: frozenset[str],
    ) -> TwilioResponse:
        if method == "GET":
            return super()._send_once(
                method,
                url,
                params=params,
                data=data,
                json_body=json_body,
                files=files,
                headers=headers,
                idempotent=idempotent,
                timeout=timeout,
                secret_fields=secret_fields,
            )
        match = _CREATES.search(url.split("?", 1)[0])
        form = encode_form(data) if data is not None else []
        exchange = Exchange(
            method=method,
            url=redact_url(url, secret_fields),
            request_headers=redact_headers({"Accept": "application/json", SANDBOX_HEADER: "true"}),
            request_body=recorded_request_body(form, json_body, files, secret_fields),
            duration_ms=0,
        )
        self.exchanges.append(exchange)
        if match is None:
            exchange.error = f"{SANDBOX_UNSUPPORTED}: not simulated"
            raise TwilioFlowError(
                SANDBOX_UNSUPPORTED,
                f"Sandbox mode: {method} {redact_url(url, secret_fields)} is not simulated, so it "
                "was not sent. Sandbox simulates message and call creates; reads go to Twilio.",
            )
        kind = "message" if match.group(1) == "Messages" else "call"
        record = (_fake_message if kind == "message" else _fake_call)(
            self.account_sid, dict(_pairs(form)), [v for k, v in form if k == "MediaUrl"]
        )
        content = json.dumps(record).encode()
        exchange.status = 201
        exchange.response_headers = {"Content-Type": "application/json", SANDBOX_HEADER: "true"}
        exchange.response_body = record
        SandboxMessage.objects.create(
            workspace=self.workspace,
            connection=self.connection,
            sid=record["sid"],
            method=method,
            url=exchange.url,
            form=(exchange.request_body or {}).get("form", []),
            response=record,
        )
        if self.on_create is not None:
            self.on_create(record["sid"], kind)
        return TwilioResponse(
            status=201, headers=exchange.response_headers, content=content, exchange=exchange
        )


def _pairs(form: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for key, value in form:
        seen.setdefault(key, value)
    return list(seen.items())


def _fake_message(account_sid: str, params: Mapping[str, str], media: list[str]) -> dict[str, Any]:
    now = format_datetime(clock.now().astimezone(dt.UTC), usegmt=True)
    body = params.get("Body") or ""
    sid = sandbox_sid()
    return {
        "sid": sid,
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "to": params.get("To"),
        "from": params.get("From"),
        "messaging_service_sid": params.get("MessagingServiceSid"),
        "body": body,
        "status": "queued",
        "direction": "outbound-api",
        "num_segments": str(segment_info(body).segments if body else 1),
        "num_media": str(len(media)),
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "date_created": now,
        "date_updated": now,
        "date_sent": None,
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        "subresource_uris": {},
        "sandbox": True,
    }


def _fake_call(account_sid: str, params: Mapping[str, str], _media: list[str]) -> dict[str, Any]:
    now = format_datetime(clock.now().astimezone(dt.UTC), usegmt=True)
    sid = sandbox_sid()
    return {
        "sid": sid,
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "to": params.get("To"),
        "from": params.get("From"),
        "status": "queued",
        "direction": "outbound-api",
        "date_created": now,
        "date_updated": now,
        "start_time": None,
        "end_time": None,
        "duration": None,
        "price": None,
        "price_unit": "USD",
        "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{sid}.json",
        "subresource_uris": {},
        "sandbox": True,
    }
