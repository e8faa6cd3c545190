"""Talking to an OpenAI-compatible chat-completions endpoint with `requests`: one POST per
reply, 429 `Retry-After` honoured within the time left, errors as stable codes. The API
key goes only into the Authorization header; it is remembered for redaction, so no log
line, error or turn row can show it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_text

LLM_ERROR = "LLM_ERROR"
LLM_TIMEOUT = "LLM_TIMEOUT"
END_CALL_TOOL = {
    "type": "function",
    "function": {
        "name": "end_call",
        "description": "End the phone call when the conversation is finished or the caller wants to go.",
        "parameters": {
            "type": "object",
            "properties": {"goodbye": {"type": "string", "description": "What to say before hanging up."}},
        },
    },
}


@dataclass
class ModelReply:
    text: str = ""
    end_call: bool = False
    tokens: int | None = None
    latency_ms: int = 0
    raw_tool_args: dict[str, Any] = field(default_factory=dict)


def chat(
    llm,
    messages: list[dict[str, Any]],
    *,
    temperature: float,
    max_tokens: int,
    tools: list[dict[str, Any]] | None = None,
    json_mode: bool = False,
    budget: float | None = None,
) -> ModelReply:
    """One reply from `llm` (a `voice.models.LlmConnection`) within `budget` seconds."""
    url = llm.base_url.rstrip("/") + "/chat/completions"
    body: dict[str, Any] = {
        "model": llm.model,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
    }
    if tools:
        body["tools"] = tools
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    headers = {"Content-Type": "application/json"}
    if llm.api_key:
        headers["Authorization"] = f"Bearer {llm.api_key}"
    started = time.monotonic()
    deadline = started + (budget if budget is not None else llm.request_timeout)
    for _ in range(3):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            response = requests.post(
                url, data=json.dumps(body), headers=headers, timeout=min(left, llm.request_timeout)
            )
        except requests.Timeout:
            break
        except requests.RequestException as exc:
            raise TwilioFlowError(
                LLM_ERROR, redact_text(f"The model could not be reached: {exc}"), retryable=True
            ) from None
        if response.status_code == 429:
            wait = _retry_after(response)
            if time.monotonic() + wait >= deadline:
                raise TwilioFlowError(
                    LLM_ERROR, "The model is rate limited (429).", retryable=True, retry_after=wait
                )
            time.sleep(wait)
            continue
        if response.status_code >= 400:
            raise TwilioFlowError(
                LLM_ERROR,
                redact_text(f"The model answered {response.status_code}: {response.text[:200]}"),
                retryable=response.status_code >= 500,
                http_status=response.status_code,
            )
        return _reply(response, started)
    raise TwilioFlowError(LLM_TIMEOUT, "The model did not answer in time.", retryable=True)


def _retry_after(response) -> float:
    try:
        return max(0.0, min(float(response.headers.get("Retry-After", "1")), 30.0))
    except ValueError:
        return 1.0


def _reply(response, started: float) -> ModelReply:
    try:
        data = response.json()
        message = data["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise TwilioFlowError(LLM_ERROR, "The model's answer was not a chat completion.") from None
    reply = ModelReply(
        text=str(message.get("content") or "").strip(),
        tokens=(data.get("usage") or {}).get("total_tokens"),
        latency_ms=int((time.monotonic() - started) * 1000),
    )
    for call in message.get("tool_calls") or []:
        function = (call or {}).get("function") or {}
        if function.get("name") == "end_call":
            reply.end_call = True
            try:
                reply.raw_tool_args = json.loads(function.get("arguments") or "{}")
            except ValueError:
                reply.raw_tool_args = {}
            reply.text = reply.text or str(reply.raw_tool_args.get("goodbye") or "")
    return reply


def extract(llm, messages: list[dict[str, Any]], fields: list[str], *, budget: float) -> dict[str, Any]:
    """The fields, as JSON, from the whole conversation (a final structured request)."""
    ask = {
        "role": "user",
        "content": "From the conversation above, return only a JSON object with exactly these keys "
        f"(null when unknown): {', '.join(fields)}.",
    }
    reply = chat(llm, [*messages, ask], temperature=0, max_tokens=300, json_mode=True, budget=budget)
    try:
        data = json.loads(reply.text)
    except ValueError:
        return {name: None for name in fields}
    return {name: data.get(name) if isinstance(data, dict) else None for name in fields}
