"""The official account's custom menu in WeChat's ``menu/create`` format, built from
``knowledge/wechat_menu.yml`` (read by ``bot.wechat.menu_file``) and checked against WeChat's
limits before publishing, so an editor learns which button is wrong in words, not an errcode."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import yaml

from bot.wechat.api import WeChatApi
from bot.wechat.menu_file import MENU_FILE, Button, Menu, MenuFileError, load_menu

TOP_BUTTONS = 3
SUB_BUTTONS = 5
# WeChat counts names in bytes (16 top-level, 60 nested) and shows at most 4 / 8 Chinese
# characters; a Chinese character is two display units, a Latin letter one.
TOP_NAME_BYTES, TOP_NAME_UNITS = 16, 8
SUB_NAME_BYTES, SUB_NAME_UNITS = 60, 16
KEY_BYTES = 128


class MenuError(ValueError):
    """The menu would be refused by WeChat, or shown cut."""


def _units(name: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in name)


def _check(button: Button, *, nested: bool) -> None:
    where = "sub-button" if nested else "top-level button"
    max_bytes, max_units = (SUB_NAME_BYTES, SUB_NAME_UNITS) if nested else (TOP_NAME_BYTES, TOP_NAME_UNITS)
    if len(button.name.encode()) > max_bytes or _units(button.name) > max_units:
        raise MenuError(
            f"{where} {button.name!r}: name too long (at most {max_units // 2} Chinese characters"
            f" or {max_units} letters)"
        )
    if button.key is not None and len(button.key.encode()) > KEY_BYTES:
        raise MenuError(f"{where} {button.name!r}: key longer than {KEY_BYTES} bytes")
    if nested and button.sub_buttons:
        raise MenuError(f"{where} {button.name!r}: sub-buttons cannot have sub-buttons")
    if len(button.sub_buttons) > SUB_BUTTONS:
        raise MenuError(f"{where} {button.name!r}: at most {SUB_BUTTONS} sub-buttons")


def _button_json(button: Button, *, nested: bool) -> dict[str, Any]:
    _check(button, nested=nested)
    if button.sub_buttons:
        return {
            "name": button.name,
            "sub_button": [_button_json(sub, nested=True) for sub in button.sub_buttons],
        }
    return {"type": "click", "name": button.name, "key": button.key}


def menu_json(menu: Menu) -> dict[str, Any]:
    """The body of ``POST /cgi-bin/menu/create``."""
    if not 1 <= len(menu.buttons) <= TOP_BUTTONS:
        raise MenuError(
            f"the menu has {len(menu.buttons)} top-level buttons; WeChat allows 1 to {TOP_BUTTONS}"
        )
    return {"button": [_button_json(button, nested=False) for button in menu.buttons]}


def load_menu_json(knowledge_dir: Path) -> dict[str, Any]:
    try:
        return menu_json(load_menu(knowledge_dir))
    except (MenuFileError, OSError, yaml.YAMLError) as exc:
        raise MenuError(f"{knowledge_dir / MENU_FILE}: {exc}") from exc


async def publish_menu(api: WeChatApi, knowledge_dir: Path) -> dict[str, Any]:
    """Replace the account's menu with the one in the knowledge folder; returns what was sent."""
    payload = load_menu_json(knowledge_dir)
    await api.create_menu(payload)
    return payload
