"""Stoplight Prism as a local Twilio: one `prism mock` per OpenAPI spec, on free loopback ports.

Prism answers with the spec's example bodies and returns 422 for any request that breaks the
spec (missing required field, bad SID pattern, wrong enum or type), which is what makes it a
conformance check. Install it with `make prism` (into the gitignored `.tools/`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from connections.client import PRODUCT_BASE_SETTINGS

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

# product (as in `TwilioClient.request(product=...)`) -> spec file in shared/twilio-oai/
SPECS: Mapping[str, str] = {
    "api": "twilio_api_v2010.json",
    "lookups": "twilio_lookups_v2.json",
    "verify": "twilio_verify_v2.json",
    "conversations": "twilio_conversations_v1.json",
    "messaging": "twilio_messaging_v1.json",
}
# Products whose spec is not in shared/twilio-oai: their requests are covered by unit tests.
WITHOUT_SPEC = frozenset({"pricing"})  # Pricing v1 (compliance: refresh_prices)
assert set(SPECS) | WITHOUT_SPEC == set(PRODUCT_BASE_SETTINGS), "a product without a spec (or vice versa)"

START_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0
PORT_RETRIES = 3


class PrismError(RuntimeError):
    """Prism could not be started; the message carries the log tail."""


def spec_dir() -> Path:
    """`shared/twilio-oai` beside the repository (CI clones `shared/` next to it)."""
    override = os.environ.get("TWILIO_OAI_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "twilio-oai"


def prism_binary() -> Path | None:
    override = os.environ.get("PRISM_BIN")
    candidates = [Path(override)] if override else []
    candidates.append(REPO_ROOT / ".tools" / "node_modules" / ".bin" / "prism")
    on_path = shutil.which("prism")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_prerequisites() -> str | None:
    """Why Prism cannot run here, or None when node, prism and all five specs are present."""
    if shutil.which("node") is None:
        return "node is not installed (Prism is a Node.js program)"
    if prism_binary() is None:
        return "the prism binary is missing: run `make prism` (installs it into .tools/)"
    specs = spec_dir()
    missing = [name for name in SPECS.values() if not (specs / name).is_file()]
    if missing:
        return f"Twilio OpenAPI specs missing from {specs}: {', '.join(missing)}"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class PrismServer:
    product: str
    spec: Path
    log_path: Path
    port: int = 0
    process: subprocess.Popen | None = None
    attempts: int = 0
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def setting(self) -> str:
        return PRODUCT_BASE_SETTINGS[self.product]

    def start(self, binary: Path) -> None:
        self.attempts += 1
        self.port = free_port()
        if self._log is not None:
            self._log.close()
        self._log = self.log_path.open("ab")
        self._log.write(f"--- attempt {self.attempts} on port {self.port}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            [str(binary), "mock", "-h", HOST, "-p", str(self.port), str(self.spec)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None


def start_all(log_dir: Path, *, timeout: float = START_TIMEOUT) -> dict[str, PrismServer]:
    """Start one Prism per spec, all at once, and return when every one accepts connections.
    On failure every started process is stopped and PrismError names the culprit."""
    binary = prism_binary()
    if binary is None:
        raise PrismError("the prism binary is missing: run `make prism`")
    servers = {
        product: PrismServer(product, spec_dir() / spec, log_dir / f"prism-{product}.log")
        for product, spec in SPECS.items()
    }
    try:
        for server in servers.values():
            server.start(binary)
        _wait_until_ready(servers, binary, timeout)
    except BaseException:
        stop_all(servers)
        raise
    return servers


def _wait_until_ready(servers: dict[str, PrismServer], binary: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(servers)
    while pending:
        for product, server in list(pending.items()):
            assert server.process is not None
            if server.process.poll() is not None:
                tail = server.log_tail()
                # Another process took the port between free_port() and Prism's bind.
                if "EADDRINUSE" in tail and server.attempts < PORT_RETRIES:
                    server.start(binary)
                    continue
                raise PrismError(
                    f"Prism for {product} ({server.spec.name}) exited with code "
                    f"{server.process.returncode} before listening on {server.port}.\n"
                    f"Log tail ({server.log_path}):\n{tail}"
                )
            if _accepts(server.port):
                del pending[product]
        if not pending:
            return
        if time.monotonic() > deadline:
            details = "\n\n".join(
                f"{product} on {server.port}, log tail ({server.log_path}):\n{server.log_tail()}"
                for product, server in pending.items()
            )
            raise PrismError(f"Prism did not accept connections within {timeout:.0f}s:\n{details}")
        time.sleep(0.1)


def stop_all(servers: Mapping[str, PrismServer]) -> None:
    """Terminate every Prism, then kill whichever is still alive after STOP_TIMEOUT."""
    for server in servers.values():
        if server.process is not None and server.process.poll() is None:
            server.process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for server in servers.values():
        if server.process is not None:
            try:
                server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                server.process.kill()
        server.stop()


# --- What Prism does not check: parameter names the spec does not declare --------------------
# Prism allows additional properties and ignores operator-suffixed names (`DateSent<`), so a
# misspelt parameter would pass it silently. These helpers check names against the spec.
@cache
def _operations(product: str) -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    spec = json.loads((spec_dir() / SPECS[product]).read_text())
    operations = []
    for template, item in spec["paths"].items():
        regex = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
        for method, operation in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                operations.append((regex, method.upper(), operation, template.count("{")))
    # A literal segment wins over a placeholder (IncomingPhoneNumbers/Local.json vs /{Sid}.json).
    operations.sort(key=lambda op: op[3])
    return [(regex, method, operation) for regex, method, operation, _ in operations]


def spec_operation(product: str, method: str, path: str) -> dict[str, Any] | None:
    path = unquote(path)
    for regex, op_method, operation in _operations(product):
        if op_method == method.upper() and regex.match(path):
            return operation
    return None


def declared_names(operation: dict[str, Any], location: str) -> set[str]:
    """Names the operation declares: location is "query", "header" or "form"."""
    if location == "form":
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/x-www-form-urlencoded", {}).get("schema", {})
        return set(schema.get("properties", {}))
    return {p["name"] for p in operation.get("parameters", []) if p.get("in") == location}


def undeclared_parameters(product: str, method: str, url: str, form: list | None) -> list[str]:
    """Problems with one request: an unknown operation, or query/form names the spec lacks."""
    parts = urlsplit(url)
    operation = spec_operation(product, method, parts.path)
    if operation is None:
        return [f"{method} {parts.path} is not an operation of {SPECS[product]}"]
    problems = []
    query = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    for name in sorted(query - declared_names(operation, "query")):
        problems.append(f"query parameter {name!r} is not declared for {method} {parts.path}")
    sent = {name for name, _ in (form or [])}
    for name in sorted(sent - declared_names(operation, "form")):
        problems.append(f"form field {name!r} is not declared for {method} {parts.path}")
    return problems
