"""Documentation that must stay true: every setting is in the README's table."""

from __future__ import annotations

from bot.settings import PROJECT_ROOT, Settings


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`BOT_{name.upper()}`" not in readme]
    assert not missing, f"add these settings to the README table: {missing}"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in ci
    assert "make test" in readme
    assert "make run" in readme
