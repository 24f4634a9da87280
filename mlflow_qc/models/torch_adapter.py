"""PyTorch adapter and its defaults (imports torch: load it through ``adapter_for``).

Defaults, as in AIQC, for a model whose last layer outputs
probabilities (sigmoid/softmax) or values (regression):
- loss: ``nn.BCELoss`` (binary); ``ProbabilityCrossEntropy`` (multi-class: cross-entropy
  on softmax outputs, class-index or one-hot labels — ``nn.CrossEntropyLoss`` expects
  logits and would apply softmax twice); ``nn.MSELoss`` (regression).
- optimizer: Adam, hyperparameter ``learning_rate`` (default 0.001).
- training: ``train_loop`` with ``epochs`` (10), ``batch_size`` (32), ``metric_cutoffs``.
- prediction: the model's output in eval mode without gradients.
The whole module is saved (``torch.save``) beside a copy of the user's module file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from mlflow_qc.errors import QCError
from mlflow_qc.models.base import TrainedModel, joined_history, seed_python_numpy, single_or_list
from mlflow_qc.models.deep import DeepAdapter
from mlflow_qc.models.torch_loop import as_tensors, label_tensor, train_loop
from mlflow_qc.models.user_module import import_saved_module

MODEL_FILE = "model.pt"
PREDICT_CHUNK = 8192
CHECK_SAMPLES = 64
EPSILON = 1e-7


class ProbabilityCrossEntropy(nn.Module):
    """Cross-entropy of probabilities against class indices (1-D int) or one-hot rows."""

    def forward(self, probabilities: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        log_probabilities = probabilities.clamp(EPSILON, 1.0).log()
        if label.ndim == 1:
            return nn.functional.nll_loss(log_probabilities, label)
        return -(label * log_probabilities).sum(dim=1).mean()


def default_loser(analysis_type: str):
    if analysis_type == "classification_binary":
        return nn.BCELoss()
    if analysis_type == "classification_multi":
        return ProbabilityCrossEntropy()
    return nn.MSELoss()


def default_optimize(model, **hp):
    return torch.optim.Adam(model.parameters(), lr=hp.get("learning_rate", 0.001))


def default_predict(model, features):
    inputs = as_tensors(features)
    outputs = []
    for start in range(0, max(len(inputs[0]), 1), PREDICT_CHUNK):
        outputs.append(model(single_or_list([f[start : start + PREDICT_CHUNK] for f in inputs])))
    return torch.cat(outputs)


def to_numpy(output) -> np.ndarray:
    if isinstance(output, tuple):
        return tuple(to_numpy(item) for item in output)
    if isinstance(output, torch.Tensor):
        return output.detach().cpu().numpy()
    return np.asarray(output)


class TorchAdapter(DeepAdapter):
    library = "pytorch"
    model_file = MODEL_FILE

    def fit(self, train, evaluation, hyperparameters: dict, seed: int) -> TrainedModel:
        hp = dict(hyperparameters)
        seed_python_numpy(seed)
        torch.manual_seed(seed)
        model = self.build(train, hp)
        if "fn_lose" not in self.functions:  # the default losses take probabilities: check before training
            self.check_untrained(model, train.features)
        loser = self.loser(train.label, hp)
        fn_optimize = self.functions.get("fn_optimize", default_optimize)
        optimizer = self.returned("fn_optimize", fn_optimize(model, **hp))
        features = single_or_list(as_tensors(train.features))
        label = label_tensor(train.label, self.analysis_type)
        eval_features = eval_label = None
        if evaluation is not None:
            eval_features = single_or_list(as_tensors(evaluation.features))
            eval_label = label_tensor(evaluation.label, self.analysis_type)
        fn_train = self.functions.get("fn_train")
        if fn_train is None:
            kwargs = {"analysis_type": self.analysis_type, "seed": seed, **hp}
            model, history = train_loop(model, loser, optimizer, features, label, eval_features, eval_label, **kwargs)
        else:
            result = self.returned(
                "fn_train",
                self.train_with(
                    fn_train, evaluation, model, loser, optimizer, features, label, eval_features, eval_label, **hp
                ),
            )
            if not (isinstance(result, tuple) and len(result) == 2):
                raise QCError(
                    f"{self.architecture.module}: fn_train",
                    f"returned {type(result).__name__}; expected (model, history)",
                )
            model, history = result
        model = self.returned("fn_train", model)
        return TrainedModel(
            model=model,
            history={k: [float(v) for v in values] for k, values in (history or {}).items()},
            state=(model, optimizer) if self.resumable else None,
        )

    def resume(self, previous, done, train, evaluation, hyperparameters, seed):
        """The default training continued: the model and its optimizer (with its moments) train the
        epochs from ``done`` to ``epochs``, shuffled by their own seed (``seed`` and ``done``)."""
        if previous.state is None or not self.resumable:
            return None
        hp = dict(hyperparameters)
        seed_python_numpy(seed + done)
        torch.manual_seed(seed + done)
        model, optimizer = previous.state
        eval_features = eval_label = None
        if evaluation is not None:
            eval_features = single_or_list(as_tensors(evaluation.features))
            eval_label = evaluation.label
        model, history = train_loop(
            model,
            self.loser(train.label, hp),
            optimizer,
            single_or_list(as_tensors(train.features)),
            train.label,
            eval_features,
            eval_label,
            **{**hp, "analysis_type": self.analysis_type, "seed": seed + done, "epochs": hp.get("epochs", 10) - done},
        )
        return TrainedModel(
            model=model,
            history=joined_history(previous.history, history),
            state=(model, optimizer),
            resumed_from=done,
        )

    def check_untrained(self, model, features: list[np.ndarray]) -> None:
        """The freshly built model's output on a few training samples against the output contract."""
        if not self.is_classification:
            return
        training = model.training
        model.eval()  # no dropout, no batch-norm statistics: the check changes nothing
        try:
            with torch.no_grad():
                self.shaped_output(to_numpy(model(single_or_list(as_tensors([f[:CHECK_SAMPLES] for f in features])))))
        finally:
            model.train(training)

    def predict(self, model, features: list[np.ndarray]) -> np.ndarray:
        fn_predict = self.functions.get("fn_predict", default_predict)
        model.eval()
        with torch.no_grad():
            output = fn_predict(model, single_or_list(as_tensors(features)))
        return self.shaped_output(to_numpy(output))

    def default_loser(self, label: np.ndarray):
        return default_loser(self.analysis_type)

    def loss(self, model, label: np.ndarray, output: np.ndarray, hyperparameters: dict) -> float:
        loser = self.loser(label, dict(hyperparameters))
        output = torch.from_numpy(np.asarray(output, dtype=np.float32))
        with torch.no_grad():
            return float(loser(output, label_tensor(label, self.analysis_type)))

    def _save_library_model(self, model, folder: Path) -> None:
        torch.save(model, folder / MODEL_FILE)

    @classmethod
    def load(cls, folder: Path):
        import_saved_module(folder)  # the pickled module's classes live there
        model = torch.load(Path(folder) / MODEL_FILE, weights_only=False)
        model.eval()
        return model
