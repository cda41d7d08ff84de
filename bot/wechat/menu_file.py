"""The official account's custom menu as written in ``knowledge/wechat_menu.yml``.

Read by the webhook (a CLICK event's key → the command text the click stands for) and by the
menu publisher (``bot/wechat/menu.py``), so both agree on one file format.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MENU_FILE = "wechat_menu.yml"


class MenuFileError(ValueError):
    """The menu file does not describe a menu WeChat would accept or the bot could answer."""


@dataclass(frozen=True, slots=True)
class Button:
    name: str
    key: str | None = None  # a CLICK button's event key; None for a button that only opens sub-buttons
    says: str | None = None  # the command text a click stands for
    sub_buttons: tuple[Button, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Menu:
    buttons: tuple[Button, ...]

    def clickable(self) -> Iterator[Button]:
        """Every button that sends a CLICK event, top-level and nested."""
        for button in self.buttons:
            if button.key is not None:
                yield button
            yield from (sub for sub in button.sub_buttons if sub.key is not None)

    def says_for(self, key: str) -> str | None:
        return next((b.says for b in self.clickable() if b.key == key), None)


def _button(raw: Any, *, nested: bool) -> Button:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
        raise MenuFileError(f"every button needs a name: {raw!r}")
    name = raw["name"].strip()
    subs_raw = raw.get("sub_buttons") or []
    if nested and subs_raw:
        raise MenuFileError(f"{name}: sub-buttons cannot have sub-buttons")
    if not isinstance(subs_raw, list) or len(subs_raw) > 5:
        raise MenuFileError(f"{name}: at most 5 sub-buttons")
    subs = tuple(_button(sub, nested=True) for sub in subs_raw)
    key = raw.get("key")
    says = raw.get("says")
    if subs and (key is not None or says is not None):
        raise MenuFileError(f"{name}: a button with sub-buttons has no key or says of its own")
    if not subs and not (isinstance(key, str) and key and isinstance(says, str) and says.strip()):
        raise MenuFileError(f"{name}: a button needs a key and the text it says")
    return Button(name=name, key=key, says=says.strip() if isinstance(says, str) else None, sub_buttons=subs)


def parse_menu(raw: Any) -> Menu:
    if not isinstance(raw, dict) or not isinstance(raw.get("buttons"), list) or not raw["buttons"]:
        raise MenuFileError("the menu file needs a non-empty `buttons:` list")
    if len(raw["buttons"]) > 3:
        raise MenuFileError("at most 3 top-level buttons")
    menu = Menu(tuple(_button(b, nested=False) for b in raw["buttons"]))
    keys = [b.key for b in menu.clickable()]
    if len(keys) != len(set(keys)):
        raise MenuFileError("button keys must be unique")
    return menu


def load_menu(knowledge_dir: Path) -> Menu:
    path = knowledge_dir / MENU_FILE
    return parse_menu(yaml.safe_load(path.read_text(encoding="utf-8")))
