"""Where `make run` listens (`WEB_BIND`, as gunicorn reads it) as a URL a browser or our own
commands can use: `0.0.0.0:8000` → `http://127.0.0.1:8000`. No Django here: `scripts/serve.py`
imports it before anything is set up."""

from __future__ import annotations

import os

DEFAULT_BIND = "127.0.0.1:8000"


def web_bind() -> str:
    return os.environ.get("WEB_BIND", "").strip() or DEFAULT_BIND


def bind_host_port(bind: str | None = None) -> tuple[str, int] | None:
    """(host to connect to, port), or None for a unix socket. A wildcard address
    (0.0.0.0, ::, empty) is reached on the loopback of the same family."""
    bind = (bind or web_bind()).split(",")[0].strip()  # gunicorn accepts several; the first
    if bind.startswith(("unix:", "fd://")):
        return None
    if bind.startswith("["):  # [::1]:8000
        host, _, port = bind[1:].partition("]")
        port = port.lstrip(":")
    elif bind.count(":") == 1 or ":" not in bind:
        host, _, port = bind.partition(":")
    else:  # a bare IPv6 address without a port
        host, port = bind, ""
    if host in ("", "0.0.0.0", "*"):  # noqa: S104  (reading the bind, not binding)
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, int(port) if port.isdigit() else 8000


def bind_url(bind: str | None = None) -> str:
    """`http://host:port` for WEB_BIND (the loopback for a wildcard address)."""
    found = bind_host_port(bind)
    if found is None:
        return f"http://127.0.0.1:8000 (WEB_BIND is {bind or web_bind()}: a socket, not a URL)"
    host, port = found
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
