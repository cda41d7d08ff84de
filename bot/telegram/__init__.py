"""The Telegram channel (python-telegram-bot): webhook or polling, notifier."""

import logging
import os

# Opt in to PTB's durations as timedelta (its next major version): without it, PTB 22 warns each
# time a RetryAfter is raised, and the code reads both forms anyway.
os.environ.setdefault("PTB_TIMEDELTA", "true")
# PTB's DEBUG lines quote every request's parameters (residents' messages) and its INFO lines
# say nothing operators need: keep them out of the logs whatever the bot's level.
logging.getLogger("telegram").setLevel(logging.WARNING)
