"""Where the Rasa environment is and how to run its commands.

Rasa lives in its own Python 3.10 environment (``.rasa-venv``, made by ``make rasa-venv``);
this module is the only place that knows how to call into it.
"""

from __future__ import annotations

import os
from pathlib import Path

from bot.settings import PROJECT_ROOT

#: Our own Rasa pipeline components (Python 3.10, Rasa and scikit-learn only), importable by Rasa.
ADDONS_DIR = PROJECT_ROOT / "bot" / "nlu" / "rasa_addons"


class RasaNotInstalled(RuntimeError):
    pass


def rasa_executable(rasa_venv: Path) -> Path:
    exe = rasa_venv / "bin" / "rasa"
    if not exe.exists():
        raise RasaNotInstalled(
            f"Rasa is not installed at {rasa_venv}. Run `make rasa-venv` "
            "(it needs Python 3.10, found through pyenv), or set BOT_NLU_URL to a running Rasa server."
        )
    return exe


def rasa_environment() -> dict[str, str]:
    """Environment for Rasa subprocesses: quiet TensorFlow, no telemetry, single-threaded BLAS."""
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONWARNINGS": "ignore",
            "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ADDONS_DIR), env.get("PYTHONPATH", "")) if p),
            # Rasa caches training results in ./.rasa by default: keep them out of the repository.
            "RASA_CACHE_DIRECTORY": env.get("RASA_CACHE_DIRECTORY", str(PROJECT_ROOT / "var" / "rasa-cache")),
        }
    )
    return env
