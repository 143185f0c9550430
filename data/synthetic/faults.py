"""Realistic meter and supply faults, placed at random at a configurable rate.

Per calendar year the number of events of each kind is Poisson with a mean chosen so
that about ``fault_rate`` of all blocks are affected; events are drawn from their own
seeded stream so that turning faults up or down does not change the weather or load.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.synthetic.calendar import Grid, city_seed
from data.synthetic.profiles import FaultParams

FAULT_KINDS = ("missing", "shedding", "duplicate", "spike", "flatline")
#: Code 0 is "no fault"; code i is FAULT_KINDS[i - 1].
FAULT_LABELS = ("", *FAULT_KINDS)


@dataclass(frozen=True)
class Event:
    start: np.ndarray  # block in the window
    length: np.ndarray
    magnitude: np.ndarray


def _runs(start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Every block index covered by runs [start, start + length)."""
    if len(start) == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
    return np.repeat(start, length) + offsets


def draw_events(grid: Grid, params: FaultParams, seed: int, code: str, fault_rate: float) -> dict[str, Event]:
    events: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {k: [] for k in FAULT_KINDS}
    for year, offset, blocks in zip(grid.years, grid.year_block_offsets, grid.year_blocks):
        rng = city_seed(seed, code, year, 1)
        for kind in FAULT_KINDS:
            spec = getattr(params, kind)
            count = rng.poisson(fault_rate * blocks * spec.weight / spec.mean_blocks)
            start = rng.integers(0, blocks, count) + offset - grid.first_block
            length = rng.integers(spec.blocks[0], spec.blocks[1] + 1, count)
            if kind == "shedding":
                low, high = spec.cut or (0.1, 0.25)
                magnitude = 1.0 - rng.uniform(low, high, count)
            elif kind == "spike":
                magnitude = np.where(rng.random(count) < 0.7, rng.uniform(1.8, 3.0, count), rng.uniform(0.05, 0.4, count))
            elif kind == "duplicate":
                magnitude = 1.0 + np.where(rng.random(count) < 0.5, 0.0, rng.normal(0.0, 0.003, count))
            else:
                magnitude = np.ones(count)
            events[kind].append((start, length, magnitude))
    out = {}
    for kind, parts in events.items():
        start, length, magnitude = (np.concatenate(x) for x in zip(*parts))
        inside = (start >= 0) & (start < grid.n_blocks)
        out[kind] = Event(start[inside], np.minimum(length[inside], grid.n_blocks - start[inside]), magnitude[inside])
    return out


@dataclass(frozen=True)
class Faulted:
    """Window rows after faults: ``rows`` index the block grid (duplicates repeat a block)."""

    rows: np.ndarray
    load: np.ndarray
    shedding: np.ndarray
    fault: np.ndarray  # code per output row, see FAULT_LABELS


def apply_faults(load: np.ndarray, events: dict[str, Event]) -> Faulted:
    n = len(load)
    load = load.copy()
    code = np.zeros(n, dtype=np.int8)
    shedding = np.zeros(n, dtype=bool)
    flat = events["flatline"]
    idx = _runs(flat.start, flat.length)
    load[idx] = load[np.repeat(flat.start, flat.length)]
    code[idx] = FAULT_LABELS.index("flatline")
    shed = events["shedding"]
    idx = _runs(shed.start, shed.length)
    load[idx] *= np.repeat(shed.magnitude, shed.length)
    shedding[idx] = True
    code[idx] = FAULT_LABELS.index("shedding")
    spike = events["spike"]
    load[spike.start] *= spike.magnitude
    code[spike.start] = FAULT_LABELS.index("spike")
    missing = np.zeros(n, dtype=bool)
    missing[_runs(events["missing"].start, events["missing"].length)] = True
    code[missing] = FAULT_LABELS.index("missing")
    dup = events["duplicate"]
    dup_keep = ~missing[dup.start]
    dup_rows = dup.start[dup_keep]
    kept = np.flatnonzero(~missing)
    rows = np.concatenate([kept, dup_rows])
    order = np.argsort(rows * 2 + np.concatenate([np.zeros(len(kept), np.int64), np.ones(len(dup_rows), np.int64)]), kind="stable")
    rows = rows[order]
    values = np.concatenate([load[kept], load[dup_rows] * dup.magnitude[dup_keep]])[order]
    codes = np.concatenate([code[kept], np.full(len(dup_rows), FAULT_LABELS.index("duplicate"), np.int8)])[order]
    return Faulted(rows=rows, load=values, shedding=shedding[rows], fault=codes)
