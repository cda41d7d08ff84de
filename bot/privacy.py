"""Masking residents' personal data wherever it is shown to someone who does not need it
(logs, summaries, operator listings)."""

from __future__ import annotations

import re

# Mainland mobiles (optionally +86, with spaces or dashes) and landlines with an area code.
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)\(?(0\d{2,3})\)?[ -]?\d{3,4}[ -]?(\d{4})(?!\d)")
# Other long digit runs: ID-card numbers, bank cards.
_LONG_DIGITS = re.compile(r"(?<!\d)\d{7,}[\dXx]?(?!\d)")


def mask_phone(phone: str) -> str:
    digits = phone.replace("-", "").replace(" ", "")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_personal_data(text: str) -> str:
    """Phone numbers keep their first three and last four digits; other long numbers their first two."""
    text = _MOBILE.sub(r"\1****\2", text)
    text = _LANDLINE.sub(r"\1****\2", text)
    return _LONG_DIGITS.sub(lambda m: m.group(0)[:2] + "*" * (len(m.group(0)) - 2), text)
