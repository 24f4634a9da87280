"""Iris: multi-class classification of tabular data with PyTorch.

Only fn_build: mlflow_qc's defaults train it (Adam with hp learning_rate, cross-entropy
on the softmax output, hp epochs and batch_size) and predict the class probabilities.
"""

from torch import nn


def fn_build(features_shape, label_shape, **hp):
    width = hp["neuron_count"]
    return nn.Sequential(
        nn.Linear(features_shape[-1], width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, label_shape[-1]),
        nn.Softmax(dim=1),
    )
