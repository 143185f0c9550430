"""LSTM and Transformer members: a network plus the input normalisation it was fitted with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from training.features.grid import BASE_INDEX, Samples
from training.members.common import to_mw
from training.members.torch_nets import build_net


class Normaliser:
    """Standardises the future covariates (minus the city column); NaN becomes 0 (the mean)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)

    @classmethod
    def fit(cls, samples: Samples) -> "Normaliser":
        flat = samples.future[..., :-1].reshape(-1, samples.future.shape[2] - 1).astype(np.float64)
        mean = np.nan_to_num(np.nanmean(flat, axis=0))
        std = np.nan_to_num(np.nanstd(flat, axis=0), nan=1.0)
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


class TorchMember:
    """Implements ``training.api.Member`` for the LSTM and the Transformer."""

    def __init__(self, name: str, arch: dict, state_dict: dict, normaliser: Normaliser) -> None:
        self.name = name
        self.arch = arch
        self.normaliser = normaliser
        self.net = build_net(name, arch)
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
    def load(cls, name: str, folder: Path) -> "TorchMember":
        meta = json.loads((folder / "member.json").read_text())
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        norm = Normaliser(np.array(meta["normaliser"]["mean"]), np.array(meta["normaliser"]["std"]))
        return cls(name, meta["arch"], state, norm)
