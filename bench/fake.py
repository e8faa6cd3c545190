"""A fast fake of Twilio's 2010 Messages API for the benchmarks, run as its own process so it
never shares a GIL with what is measured.

    python bench/fake.py [--messages 10000]      # prints "PORT <n>" once listening

- POST .../Messages.json answers 201 with a new SID at once and records (time, To, Body).
- GET  .../Messages.json pages through `--messages` pre-rendered messages, newest first
  (`next_page_uri`, `PageSize` up to 1000); the pages are rendered once, at start-up.
- GET /_stats: {"sends": n, "distinct": n, "duplicates": n}; GET /_sends: [[t, To, Body], …]
  (t = time.time() when the request arrived); POST /_reset clears the sends.
HTTP/1.1 with keep-alive, one thread per connection.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT = "AC" + "0" * 32


def render_pages(total: int, page_size: int, now: datetime) -> dict[int, bytes]:
    """page number -> body, newest first, one message a second back from `now`."""
    messages = []
    for i in range(total):
        sent = email.utils.format_datetime(now - timedelta(seconds=i))
        messages.append(
            {
                "sid": f"SM{(total - i):032x}",
                "account_sid": ACCOUNT,
                "to": "+15017122661",
                "from": f"+1415555{i % 10000:04d}",
                "body": f"Inbound message number {i}",
                "direction": "inbound",
                "status": "received",
                "num_segments": "1",
                "num_media": "0",
                "price": None,
                "price_unit": "USD",
                "error_code": None,
                "error_message": None,
                "date_created": sent,
                "date_updated": sent,
                "date_sent": sent,
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/SM{(total - i):032x}.json",
                "subresource_uris": {"media": "/media"},
            }
        )
    pages = {}
    base = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    count = max(1, -(-total // page_size))
    for page in range(count):
        chunk = messages[page * page_size : (page + 1) * page_size]
        nxt = f"{base}?PageSize={page_size}&Page={page + 1}" if page + 1 < count else None
        pages[page] = json.dumps(
            {"messages": chunk, "next_page_uri": nxt, "page": page, "page_size": page_size, "uri": base}
        ).encode()
    return pages


class State:
    def __init__(self, messages: int) -> None:
        self.lock = threading.Lock()
        self.sends: list[tuple[float, str, str]] = []
        self.counter = 0
        self.messages = messages
        self.pages_by_size: dict[int, dict[int, bytes]] = {}
        self.now = datetime.now(UTC) - timedelta(seconds=5)
        if messages:
            self.pages_by_size[1000] = render_pages(messages, 1000, self.now)


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def log_message(self, *args):  # quiet
            pass

        def _answer(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self):
            arrived = time.time()
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            if parts.path == "/_reset":
                with state.lock:
                    state.sends.clear()
                return self._answer(200, b"{}")
            if not parts.path.endswith("/Messages.json"):
                return self._answer(404, b'{"code": 20404, "message": "not found", "status": 404}')
            form = parse_qs(raw, keep_blank_values=True)
            to, body = (form.get("To") or [""])[0], (form.get("Body") or [""])[0]
            with state.lock:
                state.counter += 1
                sid = f"SM{state.counter:032x}"
                state.sends.append((arrived, to, body))
            created = email.utils.format_datetime(datetime.now(UTC))
            self._answer(
                201,
                json.dumps(
                    {
                        "sid": sid,
                        "account_sid": ACCOUNT,
                        "to": to,
                        "from": (form.get("From") or [""])[0],
                        "body": body,
                        "status": "queued",
                        "num_segments": "1",
                        "num_media": "0",
                        "direction": "outbound-api",
                        "price": None,
                        "price_unit": "USD",
                        "error_code": None,
                        "error_message": None,
                        "date_created": created,
                        "date_updated": created,
                        "date_sent": None,
                        "messaging_service_sid": None,
                        "api_version": "2010-04-01",
                        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json",
                    }
                ).encode(),
            )

        def do_GET(self):
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path == "/_stats":
                with state.lock:
                    keys = Counter((to, body) for _, to, body in state.sends)
                return self._answer(
                    200,
                    json.dumps(
                        {
                            "sends": sum(keys.values()),
                            "distinct": len(keys),
                            "duplicates": sum(n - 1 for n in keys.values() if n > 1),
                        }
                    ).encode(),
                )
            if parts.path == "/_sends":
                with state.lock:
                    return self._answer(200, json.dumps(state.sends).encode())
            if not parts.path.endswith("/Messages.json"):
                return self._answer(404, b'{"code": 20404, "message": "not found", "status": 404}')
            size = min(1000, int((query.get("PageSize") or ["50"])[0]))
            page = int((query.get("Page") or ["0"])[0])
            with state.lock:
                pages = state.pages_by_size.get(size)
                if pages is None:
                    pages = state.pages_by_size[size] = render_pages(state.messages, size, state.now)
            self._answer(200, pages.get(page, pages[0] if not state.messages else b"{}"))

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    state = State(args.messages)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state))
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
