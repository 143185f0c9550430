"""Training input as Ray Datasets: from the store to the workers, one block per city.

``prepare_city_blocks`` runs one Ray Data task per city: it reads only that city's
history from the store (lake partitions of its city and years, or its PostgreSQL rows),
builds the grid and features and cuts the samples of every split with the broadcast
``TrainingPlan`` (``training.data_prep.prepare_stored_city``). The result is materialized in the
object store as one row per city: the city's samples (``payload``) and its small
``CitySummary``; only the summaries come back to the driver.

Each split is then a lazy Dataset of sample rows (``sample_rows``) that Ray Train streams
to its workers through ``get_dataset_shard``: XGBoost builds its ``QuantileDMatrix`` from
the shard's batches (``training.members.xgboost_member``), the sequence members iterate ``iter_torch_batches``
over standardised tensors (``tensor_rows``). Scoring runs the members as Ray Data batch
inference next to the samples (``forecast_rows``) and brings back forecasts and targets,
never features.

Payloads are pickled numpy arrays, not Arrow tensor columns: a city's splits have
different lengths and a datetime per sample, and one binary cell per city keeps the block
exactly what ``prepare_city`` returned.
"""

from __future__ import annotations

import pickle  # nosec B403: only our own task outputs, inside the cluster, are unpickled
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from data.catalogue import City
from training.features.grid import Samples
from training.prepared import CityPrepared, CitySummary, SampleShapes, SplitForecast, sort_forecast, split_of

if TYPE_CHECKING:
    import ray.data

#: Columns of a sample row (one issue time of one city); ``origin`` and ``start`` are int64 ns UTC.
ROW_COLUMNS = ("future", "hist", "level", "y", "ymask", "city_idx", "scale", "origin", "lead", "start", "city")
#: CPUs each city's data task reserves (numpy feature work is single-threaded).
DATA_TASK_CPUS = 1.0
#: CPUs of the light tasks that reshape rows on their way to the workers: small, so they
#: still find room beside Ray Train workers (and Tune trials) holding most of a small cluster.
ROW_TASK_CPUS = 0.25


def _dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=5)


def _loads(raw: bytes) -> Any:
    return pickle.loads(raw)  # nosec B301: produced by _dumps in this cluster


# -- store -> one block per city --------------------------------------------------------------
def _prepare_cities(batch: dict[str, np.ndarray], prepare: Callable[[City], CityPrepared],
                    cities: dict[str, City]) -> dict[str, np.ndarray]:
    codes, payloads, summaries = [], [], []
    for code in batch["city"]:
        prepared = prepare(cities[str(code)])
        codes.append(prepared.summary.city)
        payloads.append(_dumps(prepared.splits))
        summaries.append(_dumps((prepared.summary, SampleShapes.of(prepared.splits["train"]))))
    return {"city": np.array(codes), "payload": np.array(payloads, dtype=object),
            "summary": np.array(summaries, dtype=object)}


def prepare_city_blocks(cities: list[City], prepare: Callable[[City], CityPrepared],
                        ) -> tuple["ray.data.Dataset", dict[str, CitySummary], SampleShapes]:
    """``prepare`` (read and prepare one city: ``training.data_prep.prepare_stored_city``) run
    for every city in its own Ray Data task; the blocks stay in the object store."""
    import ray.data

    seeds = ray.data.from_items([{"city": c.code} for c in cities], override_num_blocks=max(1, len(cities)))
    blocks = seeds.map_batches(
        _prepare_cities, batch_size=1, batch_format="numpy", num_cpus=DATA_TASK_CPUS,
        fn_kwargs={"prepare": prepare, "cities": {c.code: c for c in cities}},
    ).materialize()
    summaries, shapes = {}, None
    for row in blocks.select_columns(["summary"]).iter_rows():
        summary, shapes = _loads(row["summary"])
        summaries[summary.city] = summary
    return blocks, summaries, shapes


def city_blocks_from_prepared(prepared: list[CityPrepared]) -> "ray.data.Dataset":
    """In-process prepared cities as the same one-row-per-city Dataset (tests fitting on Ray Train)."""
    import ray.data

    rows = [{"city": p.summary.city, "payload": _dumps(p.splits)} for p in prepared]
    return ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))


# -- sample rows -------------------------------------------------------------------------------
def samples_to_rows(samples: Samples) -> dict[str, np.ndarray]:
    row = {name: getattr(samples, name) for name in ROW_COLUMNS if name not in ("origin", "start", "city")}
    row["origin"] = samples.origin.astype("datetime64[ns]").astype(np.int64)
    row["start"] = samples.start.astype("datetime64[ns]").astype(np.int64)
    row["city"] = samples.cities.astype(str)
    return row


def rows_to_samples(batch: dict[str, np.ndarray]) -> Samples:
    return Samples(
        future=np.asarray(batch["future"], np.float32), hist=np.asarray(batch["hist"], np.float32),
        level=np.asarray(batch["level"], np.float32), y=np.asarray(batch["y"], np.float32),
        ymask=np.asarray(batch["ymask"], bool), city_idx=np.asarray(batch["city_idx"], np.int64),
        scale=np.asarray(batch["scale"], np.float32), origin=np.asarray(batch["origin"], np.int64).astype("datetime64[ns]"),
        lead=np.asarray(batch["lead"], np.int64), start=np.asarray(batch["start"], np.int64).astype("datetime64[ns]"),
        cities=np.asarray(batch["city"]).astype(object),
    )


def _explode(batch: dict[str, np.ndarray], split: str) -> dict[str, np.ndarray]:
    parts = [split_of(_loads(raw), split) for raw in batch["payload"]]
    return samples_to_rows(Samples.concat(parts))


def sample_rows(city_blocks: "ray.data.Dataset", split: str) -> "ray.data.Dataset":
    """The split's samples as rows (``ROW_COLUMNS``), produced city by city when read."""
    return city_blocks.map_batches(_explode, batch_size=1, batch_format="numpy", num_cpus=ROW_TASK_CPUS,
                                   fn_kwargs={"split": split})


def collect_samples(rows: "ray.data.Dataset") -> Samples:
    parts = [rows_to_samples(batch) for batch in rows.iter_batches(batch_size=None, batch_format="numpy")]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise ValueError("the dataset holds no samples")
    return Samples.concat(parts)


# -- what the members' workers read --------------------------------------------------------------
def tensor_rows(rows: "ray.data.Dataset", normaliser, *, shuffle_seed: int | None = None) -> "ray.data.Dataset":
    """Standardised network inputs (future, hist, city, base, y, mask) of sample rows,
    shuffled across cities once when ``shuffle_seed`` is given, and materialized: every
    epoch re-reads them, they must not be rebuilt per epoch, and once the worker group
    holds the cluster's CPUs no task could rebuild them."""
    tensors = rows.map_batches(lambda batch: normaliser.tensors(rows_to_samples(batch)), batch_format="numpy",
                               num_cpus=ROW_TASK_CPUS)
    if shuffle_seed is not None:
        tensors = tensors.random_shuffle(seed=shuffle_seed, num_cpus=ROW_TASK_CPUS)
    return tensors.materialize()


# -- batch inference -------------------------------------------------------------------------------
def _forecast_batch(batch: dict[str, np.ndarray], members: dict) -> dict[str, np.ndarray]:
    import torch

    torch.set_num_threads(1)  # one thread per task: several share a core
    samples = rows_to_samples(batch)
    out = {name: value for name, value in batch.items() if name not in ("future", "hist")}
    for name, member in members.items():
        out[f"forecast:{name}"] = member.predict_samples(samples).astype(np.float64) if len(samples) else \
            np.zeros((0, samples.y.shape[1], 3))
    return out


def forecast_rows(rows: "ray.data.Dataset", members: dict) -> SplitForecast:
    """Every member's forecast of the rows, computed where the rows are; forecasts and targets come back."""
    scored = rows.map_batches(_forecast_batch, batch_size=512, batch_format="numpy", num_cpus=ROW_TASK_CPUS,
                              fn_kwargs={"members": members})
    parts = [batch for batch in scored.iter_batches(batch_size=None, batch_format="numpy") if len(batch["lead"])]
    if not parts:
        raise ValueError("the dataset holds no samples to forecast")
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    n, h = merged["y"].shape
    targets = rows_to_samples({**merged, "future": np.zeros((n, h, 0), np.float32), "hist": np.zeros((n, 0, 0), np.float32)})
    predictions = {name: merged[f"forecast:{name}"] for name in members}
    return sort_forecast(predictions, targets)
