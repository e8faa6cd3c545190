"""A local OpenAI-compatible chat-completions server for tests: scripted replies, delays,
429s and errors; it records every request. No internet."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeLlm:
    def __init__(self) -> None:
        self.script: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with fake.lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    step = fake.script.pop(0) if fake.script else {"content": "OK."}
                time.sleep(step.get("delay", 0))
                if step.get("status"):
                    self.send_response(step["status"])
                    if step.get("retry_after"):
                        self.send_header("Retry-After", step["retry_after"])
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(json.dumps({"error": {"message": "scripted"}}).encode())
                    return
                message: dict[str, Any] = {"role": "assistant", "content": step.get("content", "")}
                if step.get("end_call") is not None:
                    message["tool_calls"] = [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "end_call",
                                "arguments": json.dumps({"goodbye": step["end_call"]}),
                            },
                        }
                    ]
                payload = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52},
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLlm:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def llm_agent_create(workspace: Any, base_url: str, *, api_key: str, prompt: str, **values: Any) -> Any:
    """An LLM voice agent named "support" on an LLM connection "openai" at `base_url`."""
    from voice.models import AgentType, LlmConnection, VoiceAgent

    llm = LlmConnection.objects.create(
        workspace=workspace, name="openai", base_url=base_url, model="gpt-4o-mini", api_key=api_key
    )
    agent = VoiceAgent(
        workspace=workspace, name="support", agent_type=AgentType.LLM, llm=llm, system_prompt=prompt, **values
    )
    agent.full_clean()
    agent.save()
    return agent
