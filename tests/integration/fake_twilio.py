"""A local fake of Twilio's 2010 Messages API, for tests that run real worker processes.

`FakeTwilio` listens on 127.0.0.1 (a free port) in a background thread and records every
request. A send (POST .../Messages.json) is recorded, signals `send_received`, then blocks
until `release` is set, so a test can kill the worker while the request is in flight. A
listing (GET .../Messages.json) returns the message that send would have created, once a
send was recorded, exactly as Twilio would after the fact. Anything else answers 404.

    with FakeTwilio() as fake:
        env["TWILIO_API_BASE"] = fake.url
        ...
        assert fake.send_received.wait(30)
"""

from __future__ import annotations

import email.utils
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-fA-F]{32})/Messages\.json$")
NUMBERS_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-fA-F]{32})/IncomingPhoneNumbers\.json$")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    headers: dict[str, str]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def first(self, name: str) -> str | None:
        """The first value of a form field (or None)."""
        values = self.form.get(name)
        return values[0] if values else None


class FakeTwilio:
    def __init__(
        self,
        *,
        release_timeout: float = 120.0,
        port: int = 0,
        block_sends: bool = True,
        numbers: list[dict[str, str]] | None = None,
        refuse_to: frozenset[str] = frozenset(),
    ) -> None:
        # Sends to these numbers are refused as Twilio refuses an invalid To (400, 21211).
        self.refuse_to = refuse_to
        # The account's numbers (phone_number, friendly_name) listed by IncomingPhoneNumbers.
        self.numbers = list(numbers or [])
        self.requests: list[RecordedRequest] = []
        self.send_received = threading.Event()
        self.release = threading.Event()
        self.release_timeout = release_timeout
        self.message_sid = "SM" + secrets.token_hex(16)
        self._lock = threading.Lock()
        self._message: dict[str, Any] | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        if not block_sends:  # every send is answered at once (browser tests)
            self.release.set()
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-twilio", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()  # never leave a handler thread blocked
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- what the test inspects ------------------------------------------------------------
    def matching(self, method: str, path_re: re.Pattern[str] = MESSAGES_PATH) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and path_re.match(r.path)]

    @property
    def sends(self) -> list[RecordedRequest]:
        return self.matching("POST")

    @property
    def listings(self) -> list[RecordedRequest]:
        return self.matching("GET")

    def summary(self) -> str:
        with self._lock:
            return "\n".join(f"  {r.at:%H:%M:%S.%f} {r.method} {r.path} {r.query}" for r in self.requests)

    # --- behaviour -------------------------------------------------------------------------
    def _record(self, handler: BaseHTTPRequestHandler) -> RecordedRequest:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode("utf-8", "replace") if length else ""
        recorded = RecordedRequest(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            form=parse_qs(raw, keep_blank_values=True),
            headers=dict(handler.headers.items()),
        )
        with self._lock:
            self.requests.append(recorded)
        return recorded

    def _message_for(self, account: str, send: RecordedRequest) -> dict[str, Any]:
        created = email.utils.format_datetime(send.at)
        return {
            "sid": self.message_sid,
            "account_sid": account,
            "to": send.first("To"),
            "from": send.first("From"),
            "messaging_service_sid": send.first("MessagingServiceSid"),
            "body": send.first("Body") or "",
            "direction": "outbound-api",
            "status": "queued",
            "num_segments": "1",
            "num_media": "0",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": created,
            "date_updated": created,
            "date_sent": None,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{account}/Messages/{self.message_sid}.json",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{account}/Messages/{self.message_sid}/Media.json"
            },
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # keep pytest output clean
                pass

            def _answer(self, status: int, body: Any) -> None:
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Twilio-Request-Id", "RQ" + secrets.token_hex(16))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client is gone (e.g. a killed worker): nothing to answer

            def _not_found(self) -> None:
                self._answer(
                    404,
                    {"code": 20404, "message": "The requested resource was not found", "status": 404},
                )

            def do_POST(self):
                recorded = fake._record(self)
                match = MESSAGES_PATH.match(recorded.path)
                if not match:
                    return self._not_found()
                if recorded.first("To") in fake.refuse_to:
                    return self._answer(
                        400,
                        {
                            "code": 21211,
                            "status": 400,
                            "message": f"The 'To' number {recorded.first('To')} is not valid.",
                            "more_info": "https://www.twilio.com/docs/errors/21211",
                        },
                    )
                message = fake._message_for(match["account"], recorded)
                with fake._lock:
                    if fake._message is None:
                        fake._message = message
                fake.send_received.set()
                fake.release.wait(fake.release_timeout)
                self._answer(201, message)

            def do_GET(self):
                recorded = fake._record(self)
                if NUMBERS_PATH.match(recorded.path):
                    return self._answer(200, {"incoming_phone_numbers": fake.numbers, "next_page_uri": None})
                if not MESSAGES_PATH.match(recorded.path):
                    return self._not_found()
                with fake._lock:
                    messages = [fake._message] if fake._message is not None else []
                self._answer(
                    200,
                    {
                        "messages": messages,
                        "next_page_uri": None,
                        "page": 0,
                        "page_size": int((recorded.query.get("PageSize") or ["50"])[0]),
                        "uri": self.path,
                    },
                )

            def do_DELETE(self):
                fake._record(self)
                self._not_found()

            do_PUT = do_PATCH = do_DELETE

        return Handler
