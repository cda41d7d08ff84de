"""Residents' photos and voice notes, fetched from WeChat (``media/get``) so the outbox can
forward them to the case system. WeChat keeps a resident's media three days."""

from __future__ import annotations

import hashlib

from bot.jobs.media import Media, MediaGone
from bot.wechat.api import WeChatApi, WeChatRejected

_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/webp": ".webp",
    "audio/amr": ".amr",
    "audio/speex": ".speex",
    "audio/mpeg": ".mp3",
    "video/mp4": ".mp4",
}


class WeChatMedia:
    """``MediaSource`` for WeChat: an attachment's ref is the message's media_id."""

    def __init__(self, api: WeChatApi) -> None:
        self._api = api

    async def fetch(self, ref: str) -> Media:
        try:
            file = await self._api.get_media(ref)
        except WeChatRejected as exc:  # expired (40007) or not a file: it will not come back
            raise MediaGone(str(exc)) from None
        # Network failures and a busy WeChat propagate: the outbox tries again later.
        extension = _EXTENSIONS.get(file.content_type.lower(), ".bin")
        # The media_id is WeChat's, not the resident's: a short hash names the file well enough.
        name = f"wechat-{hashlib.sha256(ref.encode()).hexdigest()[:10]}{extension}"
        return Media(filename=name, content=file.content, content_type=file.content_type)
