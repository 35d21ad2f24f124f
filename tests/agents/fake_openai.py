"""A local OpenAI-compatible chat-completions server that answers from a script, for the real `openai` client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.server.threaded_server import ThreadedServer


@dataclass
class Reply:
    """One scripted answer: a JSON body (as the model's message content), an HTTP error, or a stall."""

    content: str | None = None
    status: int = 200
    delay_seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    prompt_tokens: int = 420
    completion_tokens: int = 130


def answer(payload: dict[str, Any], **kwargs: Any) -> Reply:
    return Reply(content=json.dumps(payload), **kwargs)


class FakeOpenAI(ThreadedServer):
    """Serves `POST /v1/chat/completions` from `script`; the last reply repeats once the script runs out.
    A `responder`, when set, answers instead, from the request (to answer assessments and drafts apart)."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        super().__init__(Starlette(routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])]))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _complete(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body)
        if self.responder is not None:
            reply = self.responder(body)
        else:
            reply = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if reply.delay_seconds:
                await asyncio.sleep(reply.delay_seconds)
        finally:
            self.in_flight -= 1
        if reply.status != 200:
            return JSONResponse({"error": {"message": "scripted error", "type": "test"}}, status_code=reply.status,
                                headers=reply.headers)
        return JSONResponse({
            "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body.get("model", "test"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": reply.content}}],
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                      "total_tokens": reply.prompt_tokens + reply.completion_tokens},
        })
