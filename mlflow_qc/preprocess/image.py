"""An image input: samples x channels x rows x columns (AIQC's channels-first), from a folder, a
manifest of image paths or a 4-D ``.npy``. Encoders are fit per channel over every pixel of the
training images. A served image model also takes encoded image files, decoded as in training."""

from __future__ import annotations

from mlflow_qc.data.dataset import Dataset
from mlflow_qc.errors import QCError
from mlflow_qc.preprocess.arrays import ArrayInput
from mlflow_qc.recipe import Input


class ImageInput(ArrayInput):
    kind = "image"
    channel_axis = 1

    def __init__(self, spec: Input, dataset: Dataset, where: str, target_column: str | None):
        if spec.interpolaters:
            raise QCError(
                f"{where}.interpolaters", "images have no time axis to interpolate along; expected no interpolaters"
            )
        super().__init__(spec, dataset, where, target_column)
        self.color = dataset.color  # how a served request's image files are decoded (None: not images from files)
