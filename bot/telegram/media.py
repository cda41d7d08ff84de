"""Residents' photos, fetched from Telegram by file id so the outbox can attach them to the case
filed with the centre. Telegram keeps files available for download by the bot (up to 20 MB)."""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath

from telegram import Bot
from telegram.error import BadRequest, InvalidToken

from bot.jobs.media import Media, MediaGone


class TelegramMedia:
    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def fetch(self, ref: str) -> Media:
        try:
            file = await self._bot.get_file(ref)
        except BadRequest as exc:  # unknown or expired file id, or a file too big for bots
            raise MediaGone(str(exc)) from exc
        try:
            content = bytes(await file.download_as_bytearray())
        except (BadRequest, InvalidToken) as exc:  # PTB reports a download's 404 as InvalidToken
            raise MediaGone(str(exc)) from exc
        suffix = PurePosixPath(file.file_path or "").suffix or ".jpg"
        content_type = mimetypes.guess_type(f"photo{suffix}")[0] or "application/octet-stream"
        return Media(filename=f"{file.file_unique_id}{suffix}", content=content, content_type=content_type)
