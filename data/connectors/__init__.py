"""Source connectors: each reads one kind of file into a ``SourceBatch`` (see docs/data.md).

All take the path first and keywords after, so the CLI dispatches through ``CONNECTORS``
with the same options (``city``, ``catalogue``, ``column_map``, ``default_timezone``,
``date``); a reader ignores keywords it has no use for. A whole-file problem raises
``InputFileError``; a bad row is kept with ``error``/``error_field`` for quarantine.
"""

from collections.abc import Callable

from data.connectors.open_meteo import read_open_meteo
from data.connectors.psp import read_psp
from data.connectors.sldc import read_sldc
from data.connectors.tabular import read_csv, read_parquet
from data.records import SourceBatch

CONNECTORS: dict[str, Callable[..., SourceBatch]] = {
    "csv": read_csv,
    "parquet": read_parquet,
    "open-meteo": read_open_meteo,
    "sldc": read_sldc,
    "psp": read_psp,
}

__all__ = ["CONNECTORS", "read_csv", "read_open_meteo", "read_parquet", "read_psp", "read_sldc"]
