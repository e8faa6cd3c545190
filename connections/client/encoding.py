"""Twilio's form encoding for query strings and request bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def encode_form(data: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Twilio's wire format: lists repeat the key, booleans are lower case, objects are JSON
    strings (ContentVariables, Attributes…), and None means "leave it out"."""
    pairs: list[tuple[str, str]] = []
    for key, value in (data or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if item is None:
                continue
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif isinstance(item, dict):
                item = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
            pairs.append((key, str(item)))
    return pairs
