"""When to try again after a failure: exponential, capped, with jitter so that rows that failed
together do not all come back together."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

BASE_SECONDS = 5.0
CAP_SECONDS = 600.0


def next_attempt(now: datetime, attempts: int) -> datetime:
    delay = min(CAP_SECONDS, BASE_SECONDS * 2 ** max(0, attempts - 1))
    return now + timedelta(seconds=delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not secrecy
