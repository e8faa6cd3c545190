"""What a successful request returns: status, headers, raw content and its `Exchange`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connections.client.exchange import Exchange


@dataclass
class TwilioResponse:
    status: int
    headers: Mapping[str, str]
    content: bytes
    exchange: Exchange

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content) if self.content else None
