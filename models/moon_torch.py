"""Frames of a moving moon: a window of past frames -> the next frame, with a small PyTorch CNN.

The recipe's reshape_indices stack the window's frames as channels, (frames, rows, columns); the
model answers ``label_shape`` (1 frame x 1 channel x rows x columns).
"""

from torch import nn


def fn_build(features_shape, label_shape, **hp):
    frames = features_shape[0]
    filters = hp.get("filters", 8)
    return nn.Sequential(
        nn.Conv2d(frames, filters, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(filters, filters, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(filters, 1, kernel_size=3, padding=1),
        nn.Unflatten(1, tuple(label_shape[:2])),
    )
