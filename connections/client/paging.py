"""Pagination for both of Twilio's page styles: `next_page_uri` (2010 API, relative) and
`meta.next_page_url` (v1/v2 APIs, absolute; the client re-bases it onto our configured host)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from connections.client.response import TwilioResponse


class PageGetter(Protocol):
    def __call__(
        self, path: str, *, product: str, params: Mapping[str, Any] | None, **kwargs: Any
    ) -> TwilioResponse: ...


def next_page_of(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    if body.get("next_page_uri"):
        uri: str = body["next_page_uri"]
        return uri
    meta = body.get("meta")
    if isinstance(meta, dict) and meta.get("next_page_url"):
        url: str = meta["next_page_url"]
        return url
    return None


def iter_pages(
    get: PageGetter,
    path: str,
    *,
    product: str = "api",
    params: Mapping[str, Any] | None = None,
    max_pages: int | None = None,
    **kwargs: Any,
) -> Iterator[TwilioResponse]:
    """Yield each page, following the next-page link until there is none (or `max_pages`)."""
    page_path: str | None = path
    page_params = params
    pages = 0
    while page_path:
        response = get(page_path, product=product, params=page_params, **kwargs)
        pages += 1
        yield response
        if max_pages is not None and pages >= max_pages:
            return
        page_path = next_page_of(response.json())
        page_params = None  # the next-page link carries the query, PageToken included


def collect_records(
    pages: Iterable[TwilioResponse], key: str | None = None, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """All records across `pages` (up to `limit`). `key` defaults to v1/v2 `meta.key`."""
    records: list[dict[str, Any]] = []
    for page in pages:
        body = page.json() or {}
        page_key = key or (body.get("meta") or {}).get("key")
        records.extend(body.get(page_key) or [])
        if limit is not None and len(records) >= limit:
            return records[:limit]
    return records
