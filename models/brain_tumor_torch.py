"""Brain tumours: binary classification of grayscale MRI slices (160 x 120) with a small PyTorch CNN.

The recipe's reshape_indices [0, 2, 3] hand the model images of shape (rows, columns); the
first layer adds the channel axis back. Only fn_build: mlflow_qc's defaults train it (Adam
with hp learning_rate, binary cross-entropy on the sigmoid output, hp epochs and batch_size).
"""

from torch import nn


def fn_build(features_shape, label_shape, **hp):
    rows, columns = features_shape
    filters = hp.get("filters", 8)
    return nn.Sequential(
        nn.Unflatten(1, (1, rows)),
        nn.AvgPool2d(2),
        nn.Conv2d(1, filters, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(filters, filters * 2, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(filters * 2 * (rows // 8) * (columns // 8), label_shape[-1]),
        nn.Sigmoid(),
    )
