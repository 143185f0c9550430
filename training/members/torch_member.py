"""Sequence members (LSTM, Transformer): a network plus the input normalisation it was
fitted with, and the two fits every sequence member shares.

A sequence member module gives ``torch_member_spec`` its name, params model, network
class and ``arch`` function; fitting (in-process or DDP on Ray Train), saving and loading
are the same for all of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel

from training.features.grid import BASE_INDEX, Samples
from training.members.common import scaled_pinball, to_mw
from training.members.spec import FitContext, FitData, FitOutcome, MemberSpec
from training.members.torch_loop import (ArrayBatches, LocalSession, RaySession, ShardBatches, progress_line,
                                         read_checkpoint_state, train_sequence_member)

#: The arch dict of a member from its params and the data (layer sizes, sequence lengths).
ArchFunction = Callable[[dict[str, Any], FitData], dict[str, Any]]


class Normaliser:
    """Standardises the future covariates (minus the city column); NaN becomes 0 (the mean)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)

    @classmethod
    def fit(cls, moments) -> "Normaliser":
        """From the training split's feature moments (``TrainingData.moments``), summed over
        cities: the same statistics whichever workers prepared which cities."""
        mean, std = moments.mean_std()
        return cls(mean, np.where(std < 1e-6, 1.0, std))

    def tensors(self, samples: Samples) -> dict[str, np.ndarray]:
        future = np.nan_to_num((samples.future[..., :-1] - self.mean) / self.std).astype(np.float32)
        return {
            "future": future, "hist": samples.hist.astype(np.float32), "city": (samples.city_idx + 1).astype(np.int64),
            "base": np.nan_to_num(samples.future[..., BASE_INDEX]).astype(np.float32),
            "y": np.nan_to_num(samples.y).astype(np.float32), "mask": samples.ymask.astype(np.float32),
        }

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


def common_arch(params: dict[str, Any], data: FitData) -> dict[str, Any]:
    """Input sizes every sequence network takes, plus the shared regularisation settings."""
    return {"n_future": data.shapes.n_future, "n_hist": data.shapes.n_hist, "n_cities": data.n_cities,
            "dropout": params["dropout"], "city_embedding": params["city_embedding"]}


class TorchMember:
    """Implements ``training.api.Member`` for a sequence network."""

    def __init__(self, name: str, net: type[torch.nn.Module], arch: dict, state_dict: dict, normaliser: Normaliser) -> None:
        self.name = name
        self.arch = arch
        self.normaliser = normaliser
        self.net = net(**arch)
        self.net.load_state_dict(state_dict)
        self.net.eval()

    def predict_samples(self, samples: Samples, batch_size: int = 256) -> np.ndarray:
        arrays = self.normaliser.tensors(samples)
        outputs = []
        with torch.inference_mode():
            for lo in range(0, len(samples), batch_size):
                sl = slice(lo, lo + batch_size)
                out = self.net(*(torch.from_numpy(arrays[k][sl]) for k in ("future", "hist", "city", "base")))
                outputs.append(out.float().numpy())
        return to_mw(np.concatenate(outputs).astype(np.float64), samples)

    def predict(self, batch: list) -> list[np.ndarray]:
        if not batch:
            return []
        out = self.predict_samples(Samples.concat([fs.samples for fs in batch]))
        return [out[i, : fs.horizon] for i, fs in enumerate(batch)]

    def save(self, folder: Path) -> None:
        torch.save(self.net.state_dict(), folder / "model.pt")
        (folder / "member.json").write_text(json.dumps({"arch": self.arch, "normaliser": self.normaliser.to_json()}))

    @classmethod
    def load(cls, name: str, net: type[torch.nn.Module], folder: Path) -> "TorchMember":
        meta = json.loads((folder / "member.json").read_text())
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        norm = Normaliser(np.array(meta["normaliser"]["mean"]), np.array(meta["normaliser"]["std"]))
        return cls(name, net, meta["arch"], state, norm)


def _selected(history: list[dict]) -> dict[str, Any]:
    """The epochs up to the best validation epoch, to train exactly as long on all data (no early stopping)."""
    if not history:
        return {}
    best = min(history, key=lambda entry: entry["val_loss"])
    epochs = int(best["epoch"]) + 1
    return {"epochs": epochs, "patience": epochs + 1}


def _loop_config(name: str, net: type[torch.nn.Module], arch: dict, params: dict[str, Any], ctx: FitContext) -> dict:
    return {"name": name, "net": net, "params": params, "arch": arch, "seed": ctx.seed, "epoch_hook": ctx.epoch_hook}


def fit_local(name: str, net: type[torch.nn.Module], arch_of: ArchFunction, params: dict[str, Any], data: FitData,
              ctx: FitContext) -> FitOutcome:
    norm = Normaliser.fit(data.moments("train"))
    arch = arch_of(params, data)
    use_gpu = ctx.scaling.use_gpu == "true" or (ctx.scaling.use_gpu == "auto" and torch.cuda.is_available())
    session = LocalSession(torch.device("cuda" if use_gpu else "cpu"), ctx.log)
    batch_size = params["batch_size"]
    train = ArrayBatches(norm.tensors(data.train), batch_size, shuffle=True, seed=ctx.seed)
    val = ArrayBatches(norm.tensors(data.validation), 512, shuffle=False)
    out = train_sequence_member(_loop_config(name, net, arch, params, ctx), train, val, session)
    member = TorchMember(name, net, arch, out["state_dict"], norm)
    return FitOutcome(member, scaled_pinball(member, data.validation), out["history"], _selected(out["history"]))


def _ray_worker(config: dict) -> None:
    import ray.train

    batch_size, seed = config["params"]["batch_size"], config["seed"]
    train = ShardBatches(ray.train.get_dataset_shard("train"), batch_size, shuffle=True, seed=seed)
    val = ShardBatches(ray.train.get_dataset_shard("validation"), 512, shuffle=False)
    train_sequence_member(config, train, val, RaySession())


def fit_ray(name: str, net: type[torch.nn.Module], arch_of: ArchFunction, params: dict[str, Any], data: FitData,
            ctx: FitContext) -> FitOutcome:
    """DDP on Ray Train workers over the splits as Datasets (training rows split across
    workers, validation whole on each), a checkpoint every epoch, ``max_failures``
    restarts resuming from it."""
    from ray.train import DataConfig
    from ray.train.torch import TorchTrainer

    from training.datasets import tensor_rows
    from training.ray_train import run_config, scaling_config

    norm = Normaliser.fit(data.moments("train"))
    arch = arch_of(params, data)
    run = run_config(name, ctx)
    datasets = {"train": tensor_rows(data.dataset("train"), norm, shuffle_seed=ctx.seed),
                "validation": tensor_rows(data.dataset("validation"), norm)}
    ctx.log(f"[{name}] Ray Train: {ctx.scaling.workers} workers, {data.count('train')} training samples")
    trainer = TorchTrainer(_ray_worker, train_loop_config=_loop_config(name, net, arch, params, ctx),
                           scaling_config=scaling_config(ctx.scaling), run_config=run, datasets=datasets,
                           dataset_config=DataConfig(datasets_to_split=["train"]))
    result = trainer.fit()
    with result.checkpoint.as_directory() as folder:
        state = read_checkpoint_state(Path(folder))
    for entry in state["history"]:
        ctx.log(progress_line(entry))
    member = TorchMember(name, net, arch, state["best_state"] or state["model"], norm)
    return FitOutcome(member, data.validation_pinball(member), state["history"], _selected(state["history"]))


def torch_member_spec(name: str, params: type[BaseModel], net: type[torch.nn.Module], arch: ArchFunction, *,
                      deployment: str, description: str) -> MemberSpec:
    """The spec of a sequence member: only its name, params, network and arch differ."""
    return MemberSpec(
        name=name, params=params, kind="tensor",
        fit_local=partial(fit_local, name, net, arch), fit_ray=partial(fit_ray, name, net, arch),
        load=partial(TorchMember.load, name, net), deployment=deployment,
        progress_reports=lambda p: int(p["epochs"]) + 1, description=description,
    )
