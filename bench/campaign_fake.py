"""A fast fake of Twilio's Messages API for campaign tests and benchmarks, run as its own
process (so it never shares a GIL with what is measured).

    python bench/campaign_fake.py [--port N]        # prints "PORT <n>" once listening

- POST .../Messages.json: 201 with a new SID at once; records (time, To, From, Body).
- GET  .../Messages.json?To=…: what was sent to that number, newest first, as Twilio lists
  it after the fact (what the engine's reconciliation reads after a crash).
- GET /_stats: {"sends", "distinct", "duplicates"}; GET /_sends: [[t, To], …]; POST /_reset.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT = "AC" + "0" * 32


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sends: list[tuple[float, str]] = []
        self.by_to: dict[str, list[dict]] = defaultdict(list)


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

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
                    state.by_to.clear()
                return self._answer(200, b"{}")
            if not parts.path.endswith("/Messages.json"):
                return self._answer(404, b'{"code": 20404, "message": "not found", "status": 404}')
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            created = email.utils.format_datetime(datetime.now(UTC))
            with state.lock:
                sid = f"SM{len(state.sends) + 1:032x}"
                record = {
                    "sid": sid,
                    "account_sid": ACCOUNT,
                    "to": form.get("To", ""),
                    "from": form.get("From"),
                    "messaging_service_sid": form.get("MessagingServiceSid"),
                    "body": form.get("Body", ""),
                    "status": "queued",
                    "direction": "outbound-api",
                    "num_segments": "1",
                    "num_media": "0",
                    "price": None,
                    "price_unit": "USD",
                    "error_code": None,
                    "error_message": None,
                    "date_created": created,
                    "date_updated": created,
                    "date_sent": created,
                    "api_version": "2010-04-01",
                    "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json",
                }
                state.sends.append((arrived, record["to"]))
                state.by_to[record["to"]].append(record)
            self._answer(201, json.dumps(record).encode())

        def do_GET(self):
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/_stats":
                with state.lock:
                    counts = Counter(to for _, to in state.sends)
                body = {
                    "sends": sum(counts.values()),
                    "distinct": len(counts),
                    "duplicates": sum(n - 1 for n in counts.values() if n > 1),
                }
                return self._answer(200, json.dumps(body).encode())
            if parts.path == "/_sends":
                with state.lock:
                    return self._answer(200, json.dumps(state.sends).encode())
            if not parts.path.endswith("/Messages.json"):
                return self._answer(404, b'{"code": 20404, "message": "not found", "status": 404}')
            with state.lock:
                found = list(reversed(state.by_to.get(query.get("To", ""), [])))
            page = {"messages": found, "next_page_uri": None, "page": 0, "page_size": 50, "uri": parts.path}
            self._answer(200, json.dumps(page).encode())

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(State()))
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
