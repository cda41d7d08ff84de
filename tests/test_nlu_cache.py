"""Short answers many residents type alike are parsed once by the model and then remembered."""

from __future__ import annotations

import pytest

from bot.nlu.cache import ParseCache
from bot.nlu.client import RasaClient

pytestmark = pytest.mark.rasa


async def test_short_answers_are_remembered_and_stories_are_not(rasa_client: RasaClient) -> None:
    calls: list[str] = []

    async def counted(text: str):  # type: ignore[no-untyped-def]
        calls.append(text)
        return await rasa_client.parse(text)

    cache = ParseCache(counted, size=2)
    first = await cache.parse("同意")
    again = await cache.parse("同意")
    assert again == first and calls == ["同意"]
    story = "楼上邻居天天半夜拖椅子吵得我们全家都睡不着觉，物业也不管"
    await cache.parse(story)
    await cache.parse(story)
    assert calls.count(story) == 2
    # Bounded: the oldest answer is forgotten first.
    await cache.parse("确认")
    await cache.parse("跳过")
    await cache.parse("同意")
    assert calls.count("同意") == 2
