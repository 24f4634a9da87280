"""The default PyTorch training loop; a custom fn_train may call ``train_loop`` too.

Conventions for PyTorch user code: features are float32 tensors — one tensor, or a
list of them for multi-input models, passed to ``model(...)`` as one argument (the
AIQC convention). Labels are float32 (n, width), except class-index multi-class
labels, which become a 1-D int64 tensor as ``nn.NLLLoss``/``nn.CrossEntropyLoss`` expect.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from mlflow_qc.models.base import single_or_list
from mlflow_qc.models.cutoffs import cutoffs_met, parse_cutoffs


def as_tensors(features) -> list[torch.Tensor]:
    items = features if isinstance(features, (list, tuple)) else [features]
    return [f if isinstance(f, torch.Tensor) else torch.from_numpy(np.asarray(f, dtype=np.float32)) for f in items]


def label_tensor(label, analysis_type: str | None) -> torch.Tensor:
    if isinstance(label, torch.Tensor):
        return label
    label = np.asarray(label)
    if analysis_type == "classification_multi" and label.shape[1] == 1:
        return torch.from_numpy(label.reshape(len(label)).astype(np.int64))
    return torch.from_numpy(label.astype(np.float32))


def batches(
    features: list[torch.Tensor], label: torch.Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[list[torch.Tensor], torch.Tensor]]:
    """Mini-batches of one seeded permutation shared by every input and the label.

    A trailing batch of a single sample is dropped (BatchNorm fails on it in training
    mode); the next epoch's permutation puts that sample elsewhere.
    """
    count = len(label)
    order = torch.randperm(count, generator=generator)
    for start in range(0, count, batch_size):
        index = order[start : start + batch_size]
        if len(index) == 1 and count > 1:
            break
        yield [f[index] for f in features], label[index]


def metric_name(analysis_type: str | None) -> str | None:
    if analysis_type is None:
        return None
    return "accuracy" if analysis_type.startswith("classification") else "mae"


def epoch_metric(analysis_type: str, output: torch.Tensor, label: torch.Tensor) -> float:
    """Accuracy (classification) or mean absolute error (regression), as Keras reports them."""
    if analysis_type == "classification_binary":
        predicted = (output.reshape(label.shape) > 0.5).to(label.dtype)
        return float((predicted == label).float().mean())
    if analysis_type == "classification_multi":
        truth = label if label.ndim == 1 else label.argmax(dim=1)
        return float((output.argmax(dim=1) == truth).float().mean())
    return float((output.reshape(label.shape) - label).abs().mean())


def train_loop(
    model,
    loser,
    optimizer,
    train_features,
    train_label,
    eval_features=None,
    eval_label=None,
    *,
    analysis_type: str | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    metric_cutoffs=None,
    seed: int | None = None,
    **_hp,
):
    """Train ``epochs`` epochs of shuffled mini-batches; returns ``(model, history)``.

    History follows Keras: ``loss`` is the sample-weighted mean of the epoch's batch
    losses and ``accuracy``/``mae`` likewise (from the training-mode outputs); ``val_*``
    are computed on the evaluation split in eval mode at the end of the epoch. Without
    ``analysis_type`` only losses are recorded. ``seed`` seeds the shuffling; without it,
    it is drawn from torch's global generator. Extra keyword arguments (the rest of the
    hyperparameters) are ignored so ``**hp`` can be passed on.
    """
    cutoffs = parse_cutoffs(metric_cutoffs)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)))
    generator = torch.Generator().manual_seed(seed)
    train_features = as_tensors(train_features)
    train_label = label_tensor(train_label, analysis_type)
    has_eval = eval_features is not None
    if has_eval:
        eval_features = single_or_list(as_tensors(eval_features))
        eval_label = label_tensor(eval_label, analysis_type)
    metric = metric_name(analysis_type)
    history: dict[str, list[float]] = {"loss": []}
    if metric:
        history[metric] = []
    if has_eval:
        history.update({"val_loss": []} | ({f"val_{metric}": []} if metric else {}))

    for _ in range(epochs):
        model.train()
        loss_sum, metric_sum, seen = 0.0, 0.0, 0
        for batch_features, batch_label in batches(train_features, train_label, batch_size, generator):
            output = model(single_or_list(batch_features))
            loss = loser(output, batch_label)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            count = len(batch_label)
            seen += count
            loss_sum += float(loss.detach()) * count
            if metric:
                metric_sum += epoch_metric(analysis_type, output.detach(), batch_label) * count
        history["loss"].append(loss_sum / max(seen, 1))
        if metric:
            history[metric].append(metric_sum / max(seen, 1))
        if has_eval:
            model.eval()
            with torch.no_grad():
                output = model(eval_features)
                history["val_loss"].append(float(loser(output, eval_label)))
                if metric:
                    history[f"val_{metric}"].append(epoch_metric(analysis_type, output, eval_label))
        if cutoffs and cutoffs_met(cutoffs, history):
            break
    model.eval()
    return model, history
