"""``bot admin …``: console accounts from the command line, as an operator would create the first
reviewer (passwords from stdin here; from a hidden prompt by default)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from bot.admin.accounts import SignIn, sign_in
from bot.cli_admin import admin_app
from bot.settings import Settings
from bot.storage.db import create_engine, sessions

PASSWORD = "a long enough password"


def _sign_in(data_dir: Path, username: str, password: str) -> SignIn:
    async def run() -> SignIn:
        engine = create_engine(Settings(data_dir=data_dir, database_url=None))
        try:
            return (await sign_in(sessions(engine), username, password)).outcome
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_operators_create_and_manage_console_accounts(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"BOT_DATA_DIR": str(tmp_path), "BOT_DATABASE_URL": ""}

    def admin(*args: str, stdin: str = "") -> tuple[int, str]:
        result = runner.invoke(admin_app, list(args), input=stdin, env=env)
        return result.exit_code, result.output

    code, out = admin(
        "create-user", "chen.lawyer", "--role", "reviewer", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 0, out
    assert "created reviewer 'chen.lawyer'" in out
    assert _sign_in(tmp_path, "chen.lawyer", PASSWORD) is SignIn.OK

    code, out = admin("create-user", "chen.lawyer", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 1
    assert "已存在" in out
    code, out = admin("create-user", "li-student", "--password-stdin", stdin="short\n")
    assert code == 1
    assert "密码至少需要10个字符" in out
    code, out = admin("create-user", "li student!", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 1
    assert "用户名" in out

    # Typed twice at a hidden prompt.
    code, out = admin("create-user", "li-student", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0, out
    assert PASSWORD not in out
    code, out = admin("set-role", "li-student", "reviewer")
    assert code == 0, out
    assert "'li-student' is now a reviewer" in out

    code, out = admin("deactivate", "li-student")
    assert code == 0, out
    assert _sign_in(tmp_path, "li-student", PASSWORD) is SignIn.WRONG
    code, out = admin("activate", "li-student")
    assert code == 0, out
    code, out = admin("set-password", "li-student", "--password-stdin", stdin="another good password\n")
    assert code == 0, out
    assert _sign_in(tmp_path, "li-student", "another good password") is SignIn.OK

    # The last active reviewer stays one: someone must be able to publish.
    admin("deactivate", "li-student")
    code, out = admin("set-role", "chen.lawyer", "volunteer")
    assert code == 1
    assert "最后一位在用的审核员" in out
    code, out = admin("deactivate", "nobody-here")
    assert code == 1
    assert "没有用户名为" in out
