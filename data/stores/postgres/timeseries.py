"""Load and weather history in PostgreSQL (TimescaleDB hypertables or native monthly partitions).

A write is one bulk operation with no per-row Python: the frame is encoded as binary
COPY with numpy (``binary_copy``) and
- rows of months with no partition yet are COPYed into a new standalone month table that
  is then indexed and attached (``partitions``): the first load, the bulk of the volume;
- when nothing is stored for the batch's cities in its time range (an index probe), the
  rest is COPYed straight into the table: appending, about 3x faster than a merge;
- otherwise it is COPYed into a temporary table, each staged row is classified by one
  LEFT JOIN (new / stored with other values / unchanged), and one statement updates the
  changed rows and inserts the new ones (``ON CONFLICT DO NOTHING``), counting each.
  Measured here this beat ``INSERT ... ON CONFLICT DO UPDATE ... WHERE values differ``
  (6.6 s against about 4 s per million rows), and it counts exactly, which
  ``RETURNING xmax`` cannot do on a partitioned table.
Everything happens in one transaction, and inside ``staged()`` every write of a batch
shares it, so a batch is stored completely or not at all. Reads stream back through
``COPY ... TO STDOUT`` and are parsed by pyarrow for the same reason.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from data.errors import NotFoundError
from data.schema import LOAD_FLAGS, LOAD_SCHEMA, WEATHER_SCHEMA, WEATHER_VALUES
from data.stores import frames
from data.stores.base import WriteCounts
from data.stores.lake import infer_resolution
from data.stores.postgres import binary_copy, partitions
from data.stores.postgres.pool import get_pool, unavailable_as

_stage_ids = itertools.count()


def _copy(cur: psycopg.Cursor, statement: str, table: pa.Table) -> None:
    """Stream ``table`` as binary COPY; a writer thread sends while the next chunk is encoded."""
    with cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
        for chunk in binary_copy.encode_chunks(table, minus_infinity_for_null=("issued_at",)):
            copy.write(chunk)



class PostgresStore:
    """Time series in PostgreSQL, through the shared connection pool."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection | None = None

    # ------------------------------------------------------------ transactions
    @contextmanager
    def staged(self) -> Iterator["PostgresStore"]:
        """One transaction for every write in the block (committed at the end, rolled back on error).

        A server lost in the middle aborts the transaction on its side, so nothing of the
        block is stored, and the caller gets ``BackendUnavailableError``."""
        if self._conn is not None:
            yield self
            return
        with unavailable_as("time-series database"), get_pool(self.url).connection() as conn:
            with conn.transaction():
                self._conn = conn
                try:
                    yield self
                finally:
                    self._conn = None

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        if self._conn is not None:
            yield self._conn
        else:
            with self.staged():
                assert self._conn is not None
                yield self._conn

    # ------------------------------------------------------------------ writes
    def write_load(self, frame: pd.DataFrame) -> WriteCounts:
        if frame.empty:
            return WriteCounts()
        table = frames.load_table(frames.conform_load(frame))
        return self._upsert("load", table, ["city", "ts"], ["load_mw", *LOAD_FLAGS], _LOAD_STAGE)

    def write_weather(self, frame: pd.DataFrame) -> WriteCounts:
        if frame.empty:
            return WriteCounts()
        table = frames.weather_table(frames.conform_weather(frame))
        keys = ["city", "ts", "kind", "issued_at"]
        return self._upsert("weather", table, keys, list(WEATHER_VALUES), _WEATHER_STAGE)

    def write_supply(self, frame: pd.DataFrame) -> WriteCounts:
        if frame is None or frame.empty:
            return WriteCounts()
        table = frames.supply_table(frames.conform_supply(frame))
        return self._upsert(
            "supply_position", table, ["region", "date"], list(frames.SUPPLY_VALUES), _SUPPLY_STAGE, partitioned=False
        )

    def _upsert(
        self,
        target: str,
        table: pa.Table,
        keys: list[str],
        values: list[str],
        stage_ddl: str,
        *,
        partitioned: bool = True,
    ) -> WriteCounts:
        """Store ``table`` in ``target``; new rows inserted, differing rows updated, the rest counted unchanged."""
        columns = ", ".join(table.column_names)
        total = table.num_rows
        with self._connection() as conn, conn.cursor() as cur:
            cur.execute("SET LOCAL TimeZone = 'UTC'")
            fresh = 0
            if partitioned:
                try:
                    with conn.transaction():
                        rest = partitions.load_new_months(cur, target, table, keys, _copy)
                    fresh, table = total - rest.num_rows, rest
                except psycopg.errors.DuplicateTable:
                    pass  # another loader created one of the months meanwhile: route through the parent
                if table.num_rows == 0:
                    return WriteCounts(inserted=fresh)
                ts = table.column("ts")
                cur.execute("SELECT efp_ensure_month_partitions(%s, %s, %s)", (target, pc.min(ts).as_py(), pc.max(ts).as_py()))
            if not self._overlaps(cur, target, table, partitioned):
                # Nothing stored in this batch's range: COPY straight into the table, the
                # fastest path. A concurrent writer may have got there first, so it runs in
                # a savepoint and falls back to the merge on a key conflict.
                try:
                    with conn.transaction():
                        _copy(cur, f"COPY {target} ({columns}) FROM STDIN (FORMAT binary)", table)
                    return WriteCounts(inserted=fresh + table.num_rows)
                except psycopg.errors.UniqueViolation:
                    pass
            stage = f"_efp_stage_{next(_stage_ids)}"
            cur.execute(f"CREATE TEMP TABLE {stage} ({stage_ddl}) ON COMMIT DROP")
            _copy(cur, f"COPY {stage} ({columns}) FROM STDIN (FORMAT binary)", table)
            # One join classifies every staged row (new, or stored with other values); the
            # update and the insert then touch only those rows, in a single statement.
            match = " AND ".join(f"t.{k} = s.{k}" for k in keys)
            back = " AND ".join(f"t.{k} = c.{k}" for k in keys)
            assign = ", ".join(f"{v} = c.{v}" for v in values)
            old = ", ".join(f"t.{v}" for v in values)
            new = ", ".join(f"s.{v}" for v in values)
            staged = ", ".join(f"s.{c}" for c in table.column_names)
            cur.execute(
                f"WITH classified AS MATERIALIZED ("  # nosec B608: table and column names are the schema's constants
                f" SELECT {staged}, t.{keys[0]} IS NULL AS is_new, ({old}) IS DISTINCT FROM ({new}) AS differs"
                f" FROM {stage} AS s LEFT JOIN {target} AS t ON {match}),"
                f" changed AS (UPDATE {target} AS t SET {assign} FROM classified AS c"
                f" WHERE {back} AND NOT c.is_new AND c.differs RETURNING 1),"
                f" added AS (INSERT INTO {target} ({columns}) SELECT {columns} FROM classified"
                f" WHERE is_new ON CONFLICT DO NOTHING RETURNING 1)"
                f" SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM changed)"
            )
            inserted, updated = cur.fetchone()
            cur.execute(f"DROP TABLE {stage}")
        return WriteCounts(inserted=fresh + inserted, updated=updated, unchanged=total - fresh - inserted - updated)

    @staticmethod
    def _overlaps(cur: psycopg.Cursor, target: str, table: pa.Table, partitioned: bool) -> bool:
        """Whether anything is stored for the batch's cities within its time range (an index probe)."""
        if not partitioned:
            return True
        cities = pc.unique(table.column("city")).to_pylist()
        ts = table.column("ts")
        cur.execute(
            f"SELECT EXISTS (SELECT 1 FROM {target} WHERE city = ANY(%s) AND ts BETWEEN %s AND %s)",  # nosec B608: constant table; values are parameters
            (cities, pc.min(ts).as_py(), pc.max(ts).as_py()),
        )
        return bool(cur.fetchone()[0])

    # ------------------------------------------------------------------- reads
    def read_load(
        self, city: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
    ) -> pd.DataFrame:
        select = "city, (extract(epoch FROM ts) * 1000000)::bigint AS ts, load_mw, imputed, load_shedding, outlier"
        return self._read("load", select, city, start, end, LOAD_SCHEMA)

    def read_weather(
        self,
        city: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        kind: str = "observed",
    ) -> pd.DataFrame:
        select = (
            "city, (extract(epoch FROM ts) * 1000000)::bigint AS ts, "
            + ", ".join(WEATHER_VALUES)
            + ", kind, (extract(epoch FROM NULLIF(issued_at, '-infinity')) * 1000000)::bigint AS issued_at"
        )
        return self._read("weather", select, city, start, end, WEATHER_SCHEMA, kind=kind)

    def read_supply(self, region: str) -> pd.DataFrame:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT region, date, max_demand_met_mw, energy_met_mu, shortage_mu FROM supply_position"
                " WHERE region = %s ORDER BY date",
                (region,),
            ).fetchall()
        return pd.DataFrame(rows, columns=list(frames.SUPPLY_SCHEMA.names))

    def _read(
        self,
        table: str,
        select: str,
        city: str,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        schema: pa.Schema,
        kind: str | None = None,
    ) -> pd.DataFrame:
        where, params = ["city = %s"], [city.upper()]
        if start is not None:
            where.append("ts >= %s")
            params.append(frames.utc_timestamp(start).to_pydatetime())
        if end is not None:
            where.append("ts < %s")
            params.append(frames.utc_timestamp(end).to_pydatetime())
        if kind is not None:
            where.append("kind = %s")
            params.append(kind)
        buffer = io.BytesIO()
        with self._connection() as conn, conn.cursor() as cur:
            query = sql.SQL(f"COPY (SELECT {select} FROM {table} WHERE {' AND '.join(where)} ORDER BY ts) TO STDOUT (FORMAT csv)")  # nosec B608: constant names and conditions; values are parameters
            with cur.copy(query, params) as copy:
                for block in copy:
                    buffer.write(block)
        if buffer.tell() == 0:
            return schema.empty_table().to_pandas()
        buffer.seek(0)
        raw_types = {f.name: (pa.int64() if pa.types.is_timestamp(f.type) else f.type) for f in schema}
        parsed = pacsv.read_csv(
            buffer,
            read_options=pacsv.ReadOptions(column_names=list(schema.names)),
            convert_options=pacsv.ConvertOptions(
                column_types=raw_types, true_values=["t"], false_values=["f"], strings_can_be_null=False
            ),
        )
        columns = []
        for field in schema:
            column = parsed.column(field.name)
            if pa.types.is_timestamp(field.type):
                column = column.cast(pa.timestamp("us")).cast(field.type)
            columns.append(column)
        return pa.Table.from_arrays(columns, schema=schema).to_pandas()

    # ---------------------------------------------------------------- catalogue
    def cities(self) -> list[str]:
        with self._connection() as conn:
            return [row[0] for row in conn.execute("SELECT DISTINCT city FROM load ORDER BY city")]

    def load_span(self, city: str, before: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        bound = None if before is None else frames.utc_timestamp(before).to_pydatetime()
        with self._connection() as conn:
            lo, hi = conn.execute("SELECT min(ts), max(ts) FROM load WHERE city = %s AND (%s::timestamptz IS NULL OR ts < %s)",
                                  (city.upper(), bound, bound)).fetchone()
        if lo is None:
            return None
        return pd.Timestamp(lo).tz_convert("UTC"), pd.Timestamp(hi).tz_convert("UTC")

    def resolution_minutes(self, city: str) -> int:
        """The resolution recorded at ingest; inferred from the latest stored day if none was."""
        with self._connection() as conn:
            row = conn.execute("SELECT minutes FROM series_resolution WHERE city = %s", (city.upper(),)).fetchone()
            if row:
                return int(row[0])
            stamps = conn.execute(
                "SELECT ts FROM load WHERE city = %s ORDER BY ts DESC LIMIT 200", (city.upper(),)
            ).fetchall()
        if not stamps:
            raise NotFoundError(f"no load stored for city '{city}'")
        series = pd.Series([r[0] for r in stamps]).dt.tz_convert("UTC").dt.tz_localize(None)
        return infer_resolution(series.to_numpy())


_LOAD_STAGE = (
    "city text, ts timestamptz, load_mw double precision, imputed boolean, load_shedding boolean, outlier boolean"
)
_WEATHER_STAGE = (
    "city text, ts timestamptz, "
    + ", ".join(f"{name} double precision" for name in WEATHER_VALUES)
    + ", kind text, issued_at timestamptz NOT NULL"
)
_SUPPLY_STAGE = (
    "region text, date date, max_demand_met_mw double precision, energy_met_mu double precision, shortage_mu double precision"
)
