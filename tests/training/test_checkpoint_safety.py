"""Ray Train checkpoints come from shared storage (S3 or a volume): loading one must never run code (issue 11, finding 11)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from training.members.torch_loop import STATE_FILE, read_checkpoint_state


class _Payload:
    """What a hostile writer of the checkpoint volume could leave: unpickling it creates a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_checkpoint_with_code_in_it_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    torch.save({"model": {}, "history": [], "extra": _Payload(marker)}, tmp_path / STATE_FILE)
    with pytest.raises(pickle.UnpicklingError):
        read_checkpoint_state(tmp_path)
    assert not marker.exists()


def test_a_real_training_state_loads(tmp_path: Path) -> None:
    net = torch.nn.Linear(3, 2)
    optimiser = torch.optim.Adam(net.parameters())
    state = {"model": net.state_dict(), "optimiser": optimiser.state_dict(), "epoch": 2, "best_val": float("inf"),
             "history": [{"member": "lstm", "epoch": 1, "val_loss": 0.5}], "best_state": None, "bad_epochs": 0}
    torch.save(state, tmp_path / STATE_FILE)
    loaded = read_checkpoint_state(tmp_path)
    assert loaded["history"] == state["history"] and torch.equal(loaded["model"]["weight"], net.weight.detach())
