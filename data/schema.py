"""The data contract (docs/contracts.md, "Data contract") as column lists and Arrow schemas.

Every store, connector and the preprocessor use these names, so a column is spelt the
same from the CSV a user imports to the feature the model sees.
"""

from __future__ import annotations

import pyarrow as pa

# Load records: one row per city and interval start (UTC), average MW over the interval.
LOAD_FLAGS = ("imputed", "load_shedding", "outlier")
LOAD_COLUMNS = ("city", "ts", "load_mw", *LOAD_FLAGS)

# Weather records: observed (kind="observed", issued_at null) or forecast (kind="forecast").
WEATHER_VALUES = (
    "temperature_c",
    "relative_humidity_pct",
    "dew_point_c",
    "precipitation_mm",
    "cloud_cover_pct",
    "wind_speed_kmh",
    "shortwave_radiation_wm2",
)
WEATHER_KINDS = ("observed", "forecast")
WEATHER_COLUMNS = ("city", "ts", *WEATHER_VALUES, "kind", "issued_at")

#: Physical ranges outside which a weather value is rejected (inclusive bounds).
WEATHER_RANGES: dict[str, tuple[float, float]] = {
    "temperature_c": (-60.0, 60.0),
    "relative_humidity_pct": (0.0, 100.0),
    "dew_point_c": (-80.0, 40.0),
    "precipitation_mm": (0.0, 500.0),
    "cloud_cover_pct": (0.0, 100.0),
    "wind_speed_kmh": (0.0, 400.0),
    "shortwave_radiation_wm2": (0.0, 1500.0),
}

#: Resolutions a series may have (minutes); inferred on import and stored per city.
RESOLUTIONS_MINUTES = (15, 30, 60)
BLOCKS_PER_DAY_15MIN = 96

TS_TYPE = pa.timestamp("us", tz="UTC")

LOAD_SCHEMA = pa.schema(
    [
        pa.field("city", pa.string(), nullable=False),
        pa.field("ts", TS_TYPE, nullable=False),
        pa.field("load_mw", pa.float64(), nullable=False),
        pa.field("imputed", pa.bool_(), nullable=False),
        pa.field("load_shedding", pa.bool_(), nullable=False),
        pa.field("outlier", pa.bool_(), nullable=False),
    ]
)

WEATHER_SCHEMA = pa.schema(
    [
        pa.field("city", pa.string(), nullable=False),
        pa.field("ts", TS_TYPE, nullable=False),
        *[pa.field(name, pa.float64()) for name in WEATHER_VALUES],
        pa.field("kind", pa.string(), nullable=False),
        pa.field("issued_at", TS_TYPE),
    ]
)
