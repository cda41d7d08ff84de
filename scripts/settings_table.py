"""Print the README's settings table from ``bot.settings.Settings`` (run it after adding a
setting and paste the output; tests/test_docs.py fails while a setting is missing)."""

from __future__ import annotations

from pathlib import Path

from bot.settings import PROJECT_ROOT, Settings


def _default(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, Path):
        return str(value.relative_to(PROJECT_ROOT)) if value.is_relative_to(PROJECT_ROOT) else str(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "{}"
    return str(getattr(value, "value", value))


def main() -> None:
    print("| variable | default | meaning |")
    print("|---|---|---|")
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        print(f"| `BOT_{name.upper()}` | {_default(default)} | {field.description} |")


if __name__ == "__main__":
    main()
