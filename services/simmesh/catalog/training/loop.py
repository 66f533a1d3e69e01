"""The optimisation loop shared by both backbones: P x K batches, AdamW, cosine schedule.

An epoch is `ceil(training images / batch size)` batches. The learning rate warms up linearly
over the first 5% of the steps, then follows a cosine to zero. `should_stop()` is checked before
every batch (a true answer raises CANCELLED); `on_progress(epoch, epochs, loss, metric)` is called
after every epoch with the epoch's mean loss and `metric()`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from simmesh.catalog.training.loss import hierarchical_contrastive
from simmesh.catalog.training.options import Options
from simmesh.catalog.training.sampler import GroupBatchSampler
from simmesh.kit import reasons
from simmesh.kit.errors import Cancelled

Progress = Callable[[int, int, float, float], None]
StopCheck = Callable[[], bool]
Transform = Callable[[torch.Tensor], torch.Tensor]

_WARMUP = 0.05


@dataclass(frozen=True)
class Hooks:
    on_progress: Progress | None = None
    should_stop: StopCheck | None = None


def fit(
    model: nn.Module,
    inputs: torch.Tensor,
    groups: np.ndarray,
    related: torch.Tensor,
    options: Options,
    rng: np.random.Generator,
    hooks: Hooks,
    metric: Callable[[], float],
    transform: Transform | None = None,
    parameters: Iterable[Any] | None = None,
) -> float:
    """Trains `model` on `inputs` (rows labelled by `groups`); returns the last epoch's mean loss.

    `parameters` (tensors or AdamW parameter groups) limits what is trained; all of `model` when None.
    """
    sampler = GroupBatchSampler(groups, related.numpy(), options.batch_size, options.per_group, rng)
    steps = max(1, math.ceil(len(groups) / options.batch_size))
    total = steps * options.epochs
    trained = model.parameters() if parameters is None else parameters
    optimizer = torch.optim.AdamW(trained, lr=options.learning_rate, weight_decay=options.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _cosine(total))
    labels = torch.from_numpy(groups)
    last = float("nan")
    for epoch in range(1, options.epochs + 1):
        model.train()
        losses = []
        for _ in range(steps):
            if hooks.should_stop is not None and hooks.should_stop():
                raise Cancelled(
                    f"training was cancelled in epoch {epoch} of {options.epochs}", reason=reasons.TRAINING_CANCELLED
                )
            index = torch.from_numpy(sampler.batch())
            batch = inputs[index]
            if transform is not None:
                batch = transform(batch)
            loss = hierarchical_contrastive(
                model(batch), labels[index], related, options.parent_weight, options.temperature
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
        last = float(np.mean(losses))
        model.eval()
        if hooks.on_progress is not None:
            hooks.on_progress(epoch, options.epochs, last, metric())
    model.eval()
    return last


def _cosine(total: int) -> Callable[[int], float]:
    warmup = max(1, int(total * _WARMUP))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


@torch.no_grad()
def embed(model: nn.Module, inputs: torch.Tensor, batch: int = 256) -> np.ndarray:
    """`model` applied to `inputs` in evaluation mode, as float32 numpy."""
    model.eval()
    if len(inputs) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat([model(inputs[i : i + batch]) for i in range(0, len(inputs), batch)]).numpy()
