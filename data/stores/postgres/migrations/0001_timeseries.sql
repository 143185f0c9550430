-- Load and weather time series.
-- Where the server offers TimescaleDB (installed and preloaded) they become hypertables
-- with monthly chunks; where it does not they are native range-partitioned tables by ts
-- with one partition per UTC month, which the loader creates on demand (it builds a new
-- month as a table and attaches it, see data/stores/postgres/partitions.py, or calls
-- efp_ensure_month_partitions() below). Both branches give the same columns and keys, so
-- nothing above the store knows which was taken.
-- Weather keys must be NOT NULL: an observed reading has issued_at = '-infinity'
-- (the store maps it back to NULL).

DO $$
DECLARE
    -- Installed is not enough: the library must also be preloaded, or CREATE EXTENSION fails.
    hypertables boolean := EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
        AND coalesce(current_setting('shared_preload_libraries', true), '') LIKE '%timescaledb%';
    layout text;
BEGIN
    IF hypertables THEN
        EXECUTE 'CREATE EXTENSION IF NOT EXISTS timescaledb';
        layout := '';
    ELSE
        layout := 'PARTITION BY RANGE (ts)';
    END IF;
    EXECUTE format($ddl$
        CREATE TABLE IF NOT EXISTS load (
            city text NOT NULL,
            ts timestamptz NOT NULL,
            load_mw double precision NOT NULL CHECK (load_mw >= 0),
            imputed boolean NOT NULL DEFAULT false,
            load_shedding boolean NOT NULL DEFAULT false,
            outlier boolean NOT NULL DEFAULT false,
            PRIMARY KEY (city, ts)
        ) %s$ddl$, layout);
    EXECUTE format($ddl$
        CREATE TABLE IF NOT EXISTS weather (
            city text NOT NULL,
            ts timestamptz NOT NULL,
            temperature_c double precision,
            relative_humidity_pct double precision,
            dew_point_c double precision,
            precipitation_mm double precision,
            cloud_cover_pct double precision,
            wind_speed_kmh double precision,
            shortwave_radiation_wm2 double precision,
            kind text NOT NULL CHECK (kind IN ('observed', 'forecast')),
            issued_at timestamptz NOT NULL DEFAULT '-infinity',
            PRIMARY KEY (city, ts, kind, issued_at)
        ) %s$ddl$, layout);
    IF hypertables THEN
        EXECUTE $sql$SELECT create_hypertable('load', 'ts', chunk_time_interval => interval '1 month', if_not_exists => true)$sql$;
        EXECUTE $sql$SELECT create_hypertable('weather', 'ts', chunk_time_interval => interval '1 month', if_not_exists => true)$sql$;
    END IF;
END
$$;

-- Which branch this database took, for operators and tests.
CREATE OR REPLACE FUNCTION efp_timeseries_storage() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN (SELECT relkind FROM pg_class WHERE oid = 'load'::regclass) = 'p'
                THEN 'partitioned' ELSE 'hypertable' END
$$;

-- Create the monthly (UTC) partitions of a range-partitioned table that cover
-- [from_ts, to_ts]; returns how many were created. A no-op on hypertables, whose chunks
-- TimescaleDB creates itself. Concurrent loaders serialise on an advisory lock so two
-- of them never race to create the same month.
CREATE OR REPLACE FUNCTION efp_ensure_month_partitions(parent text, from_ts timestamptz, to_ts timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamp;
    last_month timestamp;
    part text;
    created integer := 0;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = parent::regclass) <> 'p' THEN
        RETURN 0;
    END IF;
    month_start := date_trunc('month', from_ts AT TIME ZONE 'UTC');
    last_month := date_trunc('month', to_ts AT TIME ZONE 'UTC');
    WHILE month_start <= last_month LOOP
        part := format('%s_%s', parent, to_char(month_start, 'YYYYMM'));
        IF to_regclass(part) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('efp_partitions:' || parent));
            IF to_regclass(part) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                    part, parent,
                    (month_start AT TIME ZONE 'UTC'),
                    ((month_start + interval '1 month') AT TIME ZONE 'UTC')
                );
                created := created + 1;
            END IF;
        END IF;
        month_start := month_start + interval '1 month';
    END LOOP;
    RETURN created;
END
$$;
