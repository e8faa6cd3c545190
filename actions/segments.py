"""How many SMS segments a body costs, computed the way carriers split it.

GSM-7 (3GPP TS 23.038): 160 septets in one segment, 153 per segment once split (the UDH
takes 7); extension-table characters (€ [ ] { } etc.) take two septets and an escape pair is
never split across segments. Anything outside GSM-7 forces UCS-2: 70 UTF-16 code units in
one segment, 67 once split, and a surrogate pair (emoji) is never split.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7 = "GSM-7"
UCS2 = "UCS-2"


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)


def _units(body: str, encoding: str) -> list[int]:
    """Size of each character in the encoding's units."""
    if encoding == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in body]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in body]


def _count(sizes: list[int], single: int, multi: int) -> int:
    total = sum(sizes)
    if total <= single:
        return 1 if sizes else 0
    segments, used = 1, 0
    for size in sizes:
        if used + size > multi:  # an escape pair or surrogate pair moves whole
            segments += 1
            used = 0
        used += size
    return segments


def segment_info(body: str) -> SegmentInfo:
    body = body or ""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body):
        sizes = _units(body, GSM7)
        return SegmentInfo(GSM7, _count(sizes, 160, 153), sum(sizes))
    sizes = _units(body, UCS2)
    return SegmentInfo(UCS2, _count(sizes, 70, 67), sum(sizes))
