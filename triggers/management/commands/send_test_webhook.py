"""Post a kind's sample request, signed like Twilio signs it, to our own webhook endpoint."""

from __future__ import annotations

import secrets

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from twilio.request_validator import RequestValidator

from connections.models import Connection
from connections.selectors import connection_get
from connections.webhook_urls import WEBHOOK, endpoint_url
from triggers.kinds.registry import trigger_kind_get
from triggers.models import Trigger
from triggers.numbers import test_webhook_defaults
from twilioflow.core.bind import bind_url
from twilioflow.core.errors import TwilioFlowError

TIMEOUT = 15


def _fresh_sids(params: dict[str, str]) -> dict[str, str]:
    """New SIDs on every send, so a second test is a new event rather than a duplicate
    (the same old SID would be deduped, correctly, and start nothing)."""
    fresh: dict[str, str] = {}
    for name, value in params.items():
        if name.endswith("Sid") and name != "AccountSid" and len(value) == 34 and value[:2].isalpha():
            fresh.setdefault(value, value[:2] + secrets.token_hex(16))
    return {name: fresh.get(value, value) for name, value in params.items()}


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CommandError(f"VALIDATION_ERROR: --param expects NAME=VALUE, got {text!r}.")
    return name, value


class Command(BaseCommand):
    help = (
        "Send a trigger kind's sample request to this server, signed with the connection's "
        "Auth Token exactly as Twilio would, and print the answer. Exit 1 on a non-2xx."
    )

    def add_arguments(self, parser):
        parser.add_argument("connection", help="Connection name, id or public id")
        parser.add_argument("kind", help="Trigger kind, e.g. twilio/incoming-sms (or incoming-sms)")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="Override or add a request parameter (repeatable), e.g. --param Body=STOP",
        )
        parser.add_argument(
            "--url",
            metavar="BASE",
            help="Base URL of the server (default: PUBLIC_BASE_URL, else the address "
            "`make run` binds: WEB_BIND, 127.0.0.1:8000)",
        )
        parser.add_argument(
            "--trigger",
            metavar="ID",
            help="Generic webhook only: post to this trigger's own URL (id or public id)",
        )
        parser.add_argument(
            "--sign-with-token",
            metavar="TOKEN",
            dest="sign_token",
            help="Sign with this token instead of the connection's, e.g. to see a wrong signature refused",
        )

    def handle(self, *args, **opts):
        try:
            connection = connection_get(ref=opts["connection"])
        except (Connection.DoesNotExist, Connection.MultipleObjectsReturned) as exc:
            raise CommandError(f"NOT_FOUND: {exc}") from None
        slug = opts["kind"] if "/" in opts["kind"] else f"twilio/{opts['kind']}"
        try:
            kind = trigger_kind_get(slug)
        except TwilioFlowError as error:
            raise CommandError(f"{error.code}: {error.message}") from None
        # A kind's first endpoint: the generic kind's is the connection's "events" URL (or,
        # with --trigger, that trigger's own); a polling kind has none.
        if not kind.endpoints:
            raise CommandError(
                f"VALIDATION_ERROR: {kind.slug} is polled, not sent as a webhook; there is nothing to post."
            )
        token = opts["sign_token"] or connection.auth_token
        if not token:
            raise CommandError(
                f"VALIDATION_ERROR: connection {connection.name!r} has no Auth Token. Twilio signs "
                "webhooks with the account's Auth Token and this server refuses unsigned requests; "
                "add the Auth Token to the connection first."
            )
        params = _fresh_sids({name: str(value) for name, value in kind.sample.items()})
        # To one of our numbers (the trigger's filter, else a synced one), so a trigger matches.
        for name, value in test_webhook_defaults(connection, kind.slug).items():
            if name in params:
                prefix = "whatsapp:" if str(params[name]).startswith("whatsapp:") else ""
                params[name] = prefix + value.removeprefix("whatsapp:")
                self.stdout.write(
                    f"{name}={params[name]} (so that a trigger matches; --param {name}=… to change)"
                )
        params.update(_param(text) for text in opts["param"])

        base = (opts["url"] or getattr(settings, "PUBLIC_BASE_URL", "") or bind_url()).rstrip("/")
        url = endpoint_url(base, connection, kind.endpoints[0])
        if opts["trigger"]:
            if WEBHOOK not in kind.endpoints:
                raise CommandError("VALIDATION_ERROR: --trigger is only for the generic webhook kind.")
            trigger = self._trigger(connection, opts["trigger"])
            url = f"{endpoint_url(base, connection, WEBHOOK)}/{trigger.public_id}"

        signature = RequestValidator(token).compute_signature(url, params)
        self.stdout.write(f"POST {url} ({kind.slug}, {len(params)} parameters)")
        try:
            response = requests.post(
                url,
                data=params,
                headers={"X-Twilio-Signature": signature},
                timeout=TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise CommandError(f"CONNECTION_FAILED: could not reach {base}: {type(exc).__name__}") from None
        self.stdout.write(f"HTTP {response.status_code} {response.headers.get('Content-Type', '')}".rstrip())
        self.stdout.write(response.text)
        if not 200 <= response.status_code < 300:
            raise CommandError(f"The server answered HTTP {response.status_code}.")

    @staticmethod
    def _trigger(connection, ref: str) -> Trigger:
        triggers = Trigger.objects.filter(connection=connection)
        found = triggers.filter(pk=int(ref)).first() if ref.isdigit() else None
        if found is None:
            try:
                found = triggers.filter(public_id=ref).first()
            except ValidationError:  # not a UUID
                found = None
        if found is None:
            raise CommandError(f"NOT_FOUND: no trigger {ref!r} on connection {connection.name!r}.")
        return found
