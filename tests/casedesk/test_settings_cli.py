"""The desk's settings, its command line and the demo account."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from casedesk.__main__ import app
from casedesk.accounts import SignIn, sign_in
from casedesk.db import create_engine
from casedesk.demo import ensure_demo_staff, sign_in_url
from casedesk.settings import PROJECT_ROOT, Environment, Settings
from tests.casedesk.conftest import free_port

STRONG = "a-real-secret-of-enough-length"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CASEDESK_"):
            monkeypatch.delenv(name)


def test_development_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.token == "dev-casedesk-token"
    assert settings.secret
    assert settings.data_dir == PROJECT_ROOT / "var" / "casedesk"
    assert (settings.host, settings.port, settings.case_prefix) == ("127.0.0.1", 8100, "ZZ")
    assert settings.https_only is False


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CASEDESK_CASE_PREFIX", "HD")
    monkeypatch.setenv("CASEDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CASEDESK_API_TOKEN", "from-the-environment")
    settings = Settings(_env_file=None)
    assert (settings.case_prefix, settings.data_dir, settings.token) == (
        "HD",
        tmp_path,
        "from-the-environment",
    )
    monkeypatch.setenv("CASEDESK_CASE_PREFIX", "bad prefix")
    with pytest.raises(ValidationError, match="case_prefix"):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    ("token", "secret", "words"),
    [
        (None, SecretStr(STRONG), "CASEDESK_API_TOKEN must be set"),
        (SecretStr(STRONG), None, "CASEDESK_SESSION_SECRET must be set"),
        (SecretStr("dev-casedesk-token"), SecretStr(STRONG), "CASEDESK_API_TOKEN must be a secret"),
        (SecretStr(STRONG), SecretStr("short"), "CASEDESK_SESSION_SECRET must be a secret"),
    ],
)
def test_production_refuses_missing_or_weak_secrets(
    token: SecretStr | None, secret: SecretStr | None, words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        Settings(_env_file=None, env=Environment.PRODUCTION, api_token=token, session_secret=secret)


def test_production_with_secrets() -> None:
    settings = Settings(
        _env_file=None,
        env=Environment.PRODUCTION,
        api_token=SecretStr(STRONG),
        session_secret=SecretStr(STRONG),
    )
    assert settings.token == STRONG
    assert settings.https_only is True


def test_create_staff_on_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CASEDESK_DATA_DIR": str(tmp_path)}
    refused = runner.invoke(app, ["create-staff", "liu"], env=env)
    assert refused.exit_code == 2
    assert "--password-stdin" in refused.output

    created = runner.invoke(
        app,
        ["create-staff", "liu", "--password-stdin", "--display-name", "刘主任"],
        input="s3cret-pass\n",
        env=env,
    )
    assert created.exit_code == 0, created.output
    assert "liu (刘主任)" in created.output
    again = runner.invoke(app, ["create-staff", "liu", "--password-stdin"], input="other-pass\n", env=env)
    assert again.exit_code == 1
    assert "exists" in again.output
    short = runner.invoke(app, ["create-staff", "wu", "--password-stdin"], input="short\n", env=env)
    assert short.exit_code == 1
    assert "at least 8" in short.output
    bad_name = runner.invoke(app, ["create-staff", "a b", "--password-stdin"], input="long-enough\n", env=env)
    assert bad_name.exit_code == 1
    reset = runner.invoke(
        app, ["create-staff", "liu", "--password-stdin", "--reset-password"], input="new-pass-123\n", env=env
    )
    assert reset.exit_code == 0, reset.output

    async def check() -> tuple[SignIn, SignIn]:
        engine = create_engine(Settings(_env_file=None, data_dir=tmp_path))
        try:
            old = await sign_in(engine, "liu", "s3cret-pass")
            new = await sign_in(engine, "liu", "new-pass-123")
            return old.outcome, new.outcome
        finally:
            await engine.dispose()

    assert asyncio.run(check()) == (SignIn.WRONG, SignIn.OK)


def test_the_demo_account_is_created_once(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    created = ensure_demo_staff(settings)
    assert created is not None
    user, password = created
    assert user == "demo"
    assert len(password) >= 12
    assert ensure_demo_staff(settings) is None
    assert sign_in_url(settings) == "http://127.0.0.1:8100/login"
    assert sign_in_url(settings.model_copy(update={"host": "0.0.0.0"})) == "http://127.0.0.1:8100/login"


def test_serve_starts_the_desk(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CASEDESK_DATA_DIR": str(tmp_path),
        "CASEDESK_PORT": str(port),
        "CASEDESK_API_TOKEN": "served-token",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "casedesk", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/changes",
                    headers={"Authorization": "Bearer served-token"},
                )
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json() == {"changes": [], "next_cursor": "0", "has_more": False}
        assert (tmp_path / "casedesk.db").exists()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    # uvicorn shuts down cleanly, then re-raises the signal it caught.
    assert process.returncode in (0, -15), stderr.decode()
    assert b"Application shutdown complete" in stderr
