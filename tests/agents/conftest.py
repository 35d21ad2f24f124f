from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agents.deps import AgentDeps
from agents.llm import ModelSettings, OpenAICompatibleModel
from store.clock import FixedClock
from tests.agents.fake_openai import FakeOpenAI
from tests.conftest import NOW, Db


def deps_for(db: Db, model: OpenAICompatibleModel | None = None, **overrides: object) -> AgentDeps:
    return AgentDeps(read_sessions=db.app.read_sessions, write_sessions=db.app.write_sessions, units=db.app.units,
                     clock=FixedClock(NOW), model=model, **overrides)


@pytest.fixture
async def model(fake_openai: FakeOpenAI) -> AsyncIterator[OpenAICompatibleModel]:
    client = OpenAICompatibleModel(ModelSettings(base_url=fake_openai.base_url, model="test-model", api_key="test",
                                                 timeout_seconds=5, max_retries=2))
    yield client
    await client.close()
