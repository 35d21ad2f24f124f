"""One small interface to a language model: a structured completion, validated by pydantic.

`OpenAICompatibleModel` wraps `openai.AsyncOpenAI`, so any OpenAI-compatible endpoint works. Failures
of every kind (timeout, rate limit after bounded retries, HTTP errors, malformed JSON, a shape that
does not validate) surface as one `ModelFailure` with a reason the caller records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

ParsedT = TypeVar("ParsedT", bound=BaseModel)


@dataclass(frozen=True)
class Completion(Generic[ParsedT]):
    parsed: ParsedT
    prompt_tokens: int
    completion_tokens: int


class ModelFailure(Exception):
    """The model gave no usable answer; `reason` says why, tokens say what it cost anyway."""

    def __init__(self, reason: str, *, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens


class StructuredModel(Protocol):
    name: str

    async def complete(self, *, system: str, user: str, schema: type[ParsedT]) -> Completion[ParsedT]: ...


@dataclass(frozen=True)
class ModelSettings:
    base_url: str
    model: str
    api_key: str
    timeout_seconds: float = 60.0
    max_retries: int = 2


class OpenAICompatibleModel:
    """A chat-completions endpoint asked for a JSON object, parsed into `schema`."""

    def __init__(self, settings: ModelSettings) -> None:
        # Imported here, not with the module: it takes a third of a second to load, and every command loads
        # this module while few of them talk to a model.
        import openai

        self.name = settings.model
        # The client retries 408, 409, 429 (honouring Retry-After) and 5xx with backoff, boundedly.
        self._client = openai.AsyncOpenAI(base_url=settings.base_url, api_key=settings.api_key,
                                          timeout=settings.timeout_seconds, max_retries=settings.max_retries)

    async def complete(self, *, system: str, user: str, schema: type[ParsedT]) -> Completion[ParsedT]:
        import openai  # loaded by __init__ already

        try:
            response = await self._client.chat.completions.create(
                model=self.name, messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                response_format={"type": "json_object"}, temperature=0,
            )
        except openai.APITimeoutError as exc:
            raise ModelFailure("the model timed out") from exc
        except openai.RateLimitError as exc:
            raise ModelFailure("the model kept answering 429 (rate limited) after retries") from exc
        except openai.APIStatusError as exc:
            raise ModelFailure(f"the model endpoint answered HTTP {exc.status_code}") from exc
        except openai.APIConnectionError as exc:
            raise ModelFailure("the model endpoint could not be reached") from exc
        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        content = response.choices[0].message.content if response.choices else None
        try:
            parsed = schema.model_validate(json.loads(content or ""))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ModelFailure(f"the model's answer was not valid {schema.__name__} JSON: {_first_line(exc)}",
                               prompt_tokens=prompt_tokens, completion_tokens=completion_tokens) from exc
        return Completion(parsed=parsed, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    async def close(self) -> None:
        await self._client.close()


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:200]
