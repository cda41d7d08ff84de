"""The console's cookie-signing secret: made once at the first start when none is configured,
kept readable by the bot's user only, and the same after a restart (sessions survive it)."""

from __future__ import annotations

import stat
from pathlib import Path

from pydantic import SecretStr

from bot.admin.session import SECRET_FILE, secure_cookies, session_secret
from bot.settings import Environment, Settings


def test_a_generated_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", admin_session_secret=None)
    first = session_secret(settings)
    path = tmp_path / "var" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert session_secret(settings) == first
    assert session_secret(Settings(data_dir=tmp_path / "other")) != first

    configured = Settings(data_dir=tmp_path / "var", admin_session_secret=SecretStr("s" * 40))
    assert session_secret(configured) == "s" * 40


def test_cookies_are_https_only_in_production_unless_said_otherwise(tmp_path: Path) -> None:
    assert not secure_cookies(Settings(data_dir=tmp_path))
    assert secure_cookies(Settings(data_dir=tmp_path, env=Environment.PRODUCTION))
    assert not secure_cookies(
        Settings(data_dir=tmp_path, env=Environment.PRODUCTION, admin_secure_cookies=False)
    )
