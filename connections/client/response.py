"""What a successful request returns: status, headers, raw content and its `Exchange`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connections.client.exchange import Exchange

_NOT_YET = object()


@dataclass
class TwilioResponse:
    status: int
    headers: Mapping[str, str]
    content: bytes
    exchange: Exchange
    _parsed: Any = field(default=_NOT_YET, repr=False, compare=False)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Parsed once, however many callers ask (the action, the pager, the exchange)."""
        if self._parsed is _NOT_YET:
            self._parsed = json.loads(self.content) if self.content else None
        return self._parsed
