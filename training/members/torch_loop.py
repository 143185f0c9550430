"""The one training loop of the sequence members, run in-process or on Ray Train workers.

The loop does not know which: a ``Session`` hands it the device, wraps the model (DDP
under Ray Train), reports each epoch (with a checkpoint under Ray Train) and returns the
state to resume from; ``Batches`` give each epoch's data (arrays here, or the worker's
Ray Dataset shard). Early stopping reads the validation pinball, which every worker
computes on the full (small, unsplit) validation window, so all ranks stop together.
Under Ray Train (``RaySession``) a checkpoint is written every epoch; after a worker dies
Ray Train restarts the group and ``resume_state`` picks up at the next epoch.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from training.members.torch_nets import pinball_loss

STATE_FILE = "state.pt"


Batch = tuple[torch.Tensor, ...]  # future, hist, city, base, y, mask


class Batches(Protocol):
    """Where an epoch's batches come from: arrays in this process, or a Ray Dataset shard."""

    def epoch(self, epoch: int) -> Iterable[Batch]: ...


class Session(Protocol):
    device: torch.device

    def wrap_model(self, model: torch.nn.Module) -> torch.nn.Module: ...
    def resume_state(self) -> dict | None: ...
    def report(self, metrics: dict, state: dict) -> None: ...


TENSOR_KEYS = ("future", "hist", "city", "base", "y", "mask")


class ArrayBatches:
    """In-process arrays, reshuffled every epoch (``shuffle``) with a seeded generator."""

    def __init__(self, arrays: dict[str, np.ndarray], batch_size: int, *, shuffle: bool, seed: int = 0) -> None:
        self.tensors = [torch.from_numpy(arrays[k]) for k in TENSOR_KEYS]
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed

    def epoch(self, epoch: int) -> Iterable[Batch]:
        generator = torch.Generator().manual_seed(self.seed + epoch) if self.shuffle else None
        return DataLoader(TensorDataset(*self.tensors), batch_size=self.batch_size, shuffle=self.shuffle, generator=generator)


class ShardBatches:
    """A Ray Train worker's Dataset shard (rows already shuffled across cities once), read
    with ``iter_torch_batches``; a local shuffle buffer varies the order from epoch to epoch."""

    def __init__(self, shard, batch_size: int, *, shuffle: bool, seed: int = 0) -> None:
        self.shard, self.batch_size, self.shuffle, self.seed = shard, batch_size, shuffle, seed

    def epoch(self, epoch: int) -> Iterable[Batch]:
        buffer = {"local_shuffle_buffer_size": self.batch_size * 16, "local_shuffle_seed": self.seed + epoch} if self.shuffle else {}
        for batch in self.shard.iter_torch_batches(batch_size=self.batch_size, **buffer):
            yield tuple(batch[k] for k in TENSOR_KEYS)


class LocalSession:
    """In-process: CPU (or one GPU), no checkpoint files, progress through ``log``."""

    def __init__(self, device: torch.device, log: Callable[[str], None]) -> None:
        self.device, self.log, self.last_state = device, log, None

    def wrap_model(self, model):
        return model.to(self.device)

    def resume_state(self):
        return None

    def report(self, metrics, state):
        self.last_state = state
        self.log(progress_line(metrics))


def progress_line(metrics: dict) -> str:
    return (f"[{metrics['member']}] epoch {metrics['epoch'] + 1}: train pinball {metrics['train_loss']:.4f} "
            f"validation pinball {metrics['val_loss']:.4f} ({metrics['samples_per_s']:.0f} samples/s)")


def _evaluate(model: torch.nn.Module, val: Batches, device: torch.device, amp: bool) -> float:
    model.eval()
    total, weight = 0.0, 0.0
    with torch.inference_mode():
        for batch in val.epoch(0):
            f, h, c, b, y, m = (t.to(device) for t in batch)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                pred = model(f, h, c, b)
            n = float(m.sum())
            total += float(pinball_loss(pred.float(), y, m)) * n
            weight += n
    model.train()
    return total / max(weight, 1.0)


def train_sequence_member(config: dict[str, Any], train: Batches, val: Batches, session: Session) -> dict:
    """Train and return {"state_dict", "history", "best_val"}.

    ``config``: name, net (the network class, built as ``net(**arch)``), arch, params, seed, and
    optionally epoch_hook (called with each epoch's index before it runs; tests inject faults with it).
    """
    params = config["params"]
    torch.manual_seed(config["seed"])
    device = session.device
    amp = device.type == "cuda"
    net = config["net"](**config["arch"])
    model = session.wrap_model(net)
    raw_model = model.module if hasattr(model, "module") else model
    optimiser = torch.optim.AdamW(model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
    schedule = _schedule(optimiser, params)
    history: list[dict] = []
    best_val, best_state, bad_epochs, first_epoch = math.inf, None, 0, 0
    resumed = session.resume_state()
    if resumed is not None:
        raw_model.load_state_dict(resumed["model"])
        optimiser.load_state_dict(resumed["optimiser"])
        if schedule is not None and resumed.get("schedule") is not None:
            schedule.load_state_dict(resumed["schedule"])
        history, best_val, best_state = resumed["history"], resumed["best_val"], resumed["best_state"]
        bad_epochs, first_epoch = resumed["bad_epochs"], resumed["epoch"] + 1
    for epoch in range(first_epoch, params["epochs"]):
        if bad_epochs >= params["patience"]:
            break
        if config.get("epoch_hook") is not None:
            config["epoch_hook"](epoch)
        started, seen, running = time.perf_counter(), 0, 0.0
        model.train()
        for batch in train.epoch(epoch):
            f, h, c, b, y, m = (t.to(device) for t in batch)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                pred = model(f, h, c, b)
            loss = pinball_loss(pred.float(), y, m)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            running += float(loss.detach()) * len(y)
            seen += len(y)
        elapsed = time.perf_counter() - started
        if schedule is not None:
            schedule.step()
        val_loss = _evaluate(raw_model, val, device, amp)
        if val_loss < best_val - 1e-6:
            best_val, best_state, bad_epochs = val_loss, copy.deepcopy(raw_model.state_dict()), 0
        else:
            bad_epochs += 1
        metrics = {"member": config["name"], "epoch": epoch, "train_loss": running / max(seen, 1), "val_loss": val_loss,
                   "best_val": best_val, "samples_per_s": seen / max(elapsed, 1e-9), "resumed_from": first_epoch}
        history.append(metrics)
        state = {"model": raw_model.state_dict(), "optimiser": optimiser.state_dict(), "epoch": epoch, "history": history,
                 "best_val": best_val, "best_state": best_state, "bad_epochs": bad_epochs,
                 "schedule": None if schedule is None else schedule.state_dict()}
        session.report(metrics, state)
    final = best_state if best_state is not None else raw_model.state_dict()
    return {"state_dict": {k: v.detach().cpu() for k, v in final.items()}, "history": history, "best_val": best_val}


def _schedule(optimiser: torch.optim.Optimizer, params: dict[str, Any]) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Cosine decay of the learning rate over the planned epochs (to 5 %): large steps early, fine ones late."""
    if params.get("lr_schedule", "constant") != "cosine":
        return None
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, params["epochs"]), eta_min=params["lr"] * 0.05)


class RaySession:
    """The loop's session on a Ray Train worker: DDP, a checkpoint every epoch, resume."""

    def __init__(self) -> None:
        import ray.train
        import ray.train.torch

        self.device = ray.train.torch.get_device()
        self.rank = ray.train.get_context().get_world_rank()

    def wrap_model(self, model):
        import ray.train.torch

        return ray.train.torch.prepare_model(model)

    def resume_state(self):
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as folder:
            return read_checkpoint_state(Path(folder))

    def report(self, metrics, state):
        import tempfile

        import ray.train

        with tempfile.TemporaryDirectory() as folder:
            checkpoint = None
            if self.rank == 0:
                torch.save(state, Path(folder) / STATE_FILE)
                checkpoint = ray.train.Checkpoint.from_directory(folder)
                print(progress_line(metrics), flush=True)
            ray.train.report({k: v for k, v in metrics.items() if k != "member"}, checkpoint=checkpoint)


def read_checkpoint_state(folder: Path) -> dict:
    """A Ray Train checkpoint's training state, tensors and plain values only.

    Checkpoints sit in shared storage (S3 or a volume); ``weights_only=False`` would unpickle (and so run)
    whatever object a writer of that storage put there. The state holds only tensors, dicts,
    lists and numbers, which ``weights_only=True`` loads."""
    return torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
