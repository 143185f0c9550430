"""The response's block times: the vectorised, cached formatting writes what isoformat writes."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from serving.local_times import local_isoformat


@pytest.mark.parametrize("tz", ["Asia/Kolkata", "Australia/Sydney", "America/St_Johns", "Europe/London", "UTC"])
@pytest.mark.parametrize("start", ["2024-03-30 00:00", "2024-10-05 12:00", "2024-11-02 22:00"])
def test_equals_isoformat_across_daylight_saving_changes(tz: str, start: str) -> None:
    blocks = pd.date_range(start, periods=3 * 96, freq="15min", tz="UTC")  # each start spans some zone's DST change
    expected = [ts.isoformat() for ts in blocks.tz_convert(tz)]
    assert list(local_isoformat(blocks, ZoneInfo(tz))) == expected
    assert list(local_isoformat(blocks, tz)) == expected  # again: from the cache, still the same strings


def test_sub_second_and_naive_instants() -> None:
    odd = pd.DatetimeIndex(["2024-01-01 00:00:00.250", "2024-01-01 00:15:00"]).tz_localize("UTC")
    assert list(local_isoformat(odd, "Asia/Kolkata")) == [ts.isoformat() for ts in odd.tz_convert("Asia/Kolkata")]
    naive = pd.date_range("2024-01-01", periods=2, freq="30min")  # naive instants are UTC, as the members return them
    assert local_isoformat(naive, "Asia/Kolkata") == ("2024-01-01T05:30:00+05:30", "2024-01-01T06:00:00+05:30")
