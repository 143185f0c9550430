"""Durations as people write them ('1d', '14h', '90m'): horizons, leads and windows share one parser."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d{1,6})\s*(m|min|h|d)\s*$", re.IGNORECASE)
_UNIT_MINUTES = {"m": 1, "min": 1, "h": 60, "d": 1440}


def parse_duration_minutes(text: str) -> int | None:
    """'1d' -> 1440, '90m' -> 90; None when the text is not a duration."""
    match = _DURATION.match(text)
    if not match:
        return None
    return int(match.group(1)) * _UNIT_MINUTES[match.group(2).lower()]
