"""A training run's folder, shared by both trainers (Stochastic Depth and SkipNet).

A folder holds either a finished checkpoint (`model.safetensors` + `metadata.json`) or the state of
an unfinished run: one safetensors file with the model's weights, the SGD momentum buffers (by
parameter name), any extra tensors (an RNG state), and the progress JSON inside its metadata, so
one atomic rename commits weights and counters together (a kill between two separate writes would
pair the weights of batch k+1 with the counters of batch k). A readable copy of the JSON sits
beside it for people and progress monitors.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from explorer.checkpoint import METADATA_FILE, WEIGHTS_FILE, save_tensors_atomic, write_json_atomic
from explorer.errors import TrainingError


class RunFolder:
    """The run folder `path`; `state_name` names its state files (`<state_name>.safetensors/.json`)."""

    def __init__(self, path: str | Path, state_name: str):
        self.path = Path(path)
        self.state_tensors = self.path / f"{state_name}.safetensors"
        self.state_json = self.path / f"{state_name}.json"

    @property
    def has_state(self) -> bool:
        return self.state_tensors.exists()

    @property
    def finished(self) -> bool:
        return (self.path / METADATA_FILE).exists() and not self.has_state

    def prepare(self, *, resume: bool, force: bool) -> str:
        """'finished' (resume asked, nothing left to do), 'resume' or 'fresh'; `force` clears the
        folder first. A folder that holds anything needs --resume or --force: one error says so."""
        if self.finished and resume and not force:
            return "finished"
        if (self.has_state or self.finished) and not resume and not force:
            raise TrainingError(
                f"{self.path} already holds a {'training run' if self.has_state else 'checkpoint'}: "
                "pass --resume to continue it or --force to start over"
            )
        if force:
            for path in (self.state_tensors, self.state_json, self.path / WEIGHTS_FILE, self.path / METADATA_FILE):
                path.unlink(missing_ok=True)
        self.path.mkdir(parents=True, exist_ok=True)
        return "resume" if self.has_state and resume else "fresh"

    def save(self, model: nn.Module, opt: torch.optim.Optimizer, state: dict, extra: dict | None = None) -> None:
        """Weights, momentum buffers, `extra` tensors and the JSON-ready `state`, atomically."""
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        names = {p: n for n, p in model.named_parameters()}
        for group in opt.param_groups:
            for p in group["params"]:
                buf = opt.state.get(p, {}).get("momentum_buffer")
                if buf is not None:
                    tensors[f"momentum.{names[p]}"] = buf
        tensors.update(extra or {})
        save_tensors_atomic(self.state_tensors, tensors, metadata={"state": json.dumps(state)})
        write_json_atomic(self.state_json, state)

    def load(self, model: nn.Module, opt: torch.optim.Optimizer) -> tuple[dict, dict[str, torch.Tensor]]:
        """Restore weights and momentum into `model` and `opt`; returns (state, the extra tensors)."""
        try:
            tensors = load_file(str(self.state_tensors))
            with safe_open(str(self.state_tensors), framework="pt") as f:
                embedded = (f.metadata() or {}).get("state")
            # states written before 0.1 kept the JSON only in its own file
            state = json.loads(embedded if embedded is not None else self.state_json.read_text())
        except (SafetensorError, OSError, ValueError) as e:
            raise TrainingError(
                f"cannot resume from {self.path} ({e}): the saved training state is corrupt; "
                "start again without --resume and with --force"
            ) from None
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        params = dict(model.named_parameters())
        for k, v in tensors.items():
            if k.startswith("momentum."):
                p = params[k[9:]]
                # same memory format as the parameter (channels_last), so updates round exactly as before
                opt.state[p]["momentum_buffer"] = torch.empty_like(p).copy_(v)
        extra = {k: v for k, v in tensors.items() if not k.startswith(("model.", "momentum."))}
        return state, extra

    def finish(self) -> None:
        """Remove the state files once the checkpoint is written."""
        self.state_tensors.unlink(missing_ok=True)
        self.state_json.unlink(missing_ok=True)
