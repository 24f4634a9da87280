"""Images decoded with Pillow into channels-first arrays: a folder (files sorted by name), a manifest
table with a column of image paths, or encoded bytes (a served request)."""

from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd

from mlflow_qc.errors import QCError, one_line

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
COLORS = {"L": 1, "RGB": 3}


def folder_files(folder: str, where: str) -> list[str]:
    """The image files of a folder, sorted by name (hidden files and other suffixes left out)."""
    names = sorted(n for n in os.listdir(folder) if not n.startswith(".") and n.lower().endswith(IMAGE_SUFFIXES))
    if not names:
        raise QCError(
            f"{where}.path", f"{folder} holds no image files; expected files ending in {', '.join(IMAGE_SUFFIXES)}"
        )
    return [os.path.join(folder, name) for name in names]


def manifest_files(manifest: pd.DataFrame, column: str, manifest_path: str, where: str) -> list[str]:
    """The image paths of a manifest's column, relative to the manifest's folder; each must exist."""
    if column not in manifest.columns:
        raise QCError(
            f"{where}.image_column",
            f"'{column}' is not a column of {os.path.basename(manifest_path)}; "
            f"expected one of {list(manifest.columns)[:12]}",
        )
    base = os.path.dirname(manifest_path)
    files = []
    for row, value in enumerate(manifest[column].tolist()):
        if not isinstance(value, str) or not value.strip():
            raise QCError(f"{where}.image_column", f"row {row} of '{column}' is {value!r}; expected an image path")
        path = os.path.normpath(os.path.join(base, value))
        if not os.path.isfile(path):
            raise QCError(
                f"{where}.image_column",
                f"row {row}: {value} does not exist (looked for {path}); expected an image file",
            )
        files.append(path)
    return files


def open_image(source, label: str, where: str):
    """A decoded Pillow image from a path or bytes; QCError when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
        image.load()
        return image
    except UnidentifiedImageError:
        raise QCError(
            where, f"{label} is not an image file Pillow can read; expected a PNG, JPEG or other image file"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise QCError(
            where, f"{label} is not a readable image ({one_line(exc)}); expected a PNG, JPEG or other image file"
        ) from None


def color_of(images, color: str | None) -> str:
    """The declared colour mode, else L when every image is grayscale, else RGB."""
    if color is not None:
        return color
    return "L" if all(image.mode in ("L", "1", "I", "I;16", "F") for image in images) else "RGB"


def to_array(image, color: str) -> np.ndarray:
    """channels x rows x columns, uint8 (float images are kept as they are)."""
    pixels = np.asarray(image.convert(color))
    return pixels[None, :, :] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)


def load_images(files: list[str], color: str | None, where: str) -> tuple[np.ndarray, str]:
    """Every file decoded, all of one size: samples x channels x rows x columns, and the colour mode used."""
    images = [open_image(path, os.path.basename(path), f"{where}.path") for path in files]
    sizes = {}
    for path, image in zip(files, images):
        sizes.setdefault(image.size, path)
    if len(sizes) > 1:
        (size_a, file_a), (size_b, file_b) = list(sizes.items())[:2]
        raise QCError(
            f"{where}.path",
            f"images differ in size: {os.path.basename(file_a)} is {size_a[0]}x{size_a[1]}, "
            f"{os.path.basename(file_b)} is {size_b[0]}x{size_b[1]}; expected every image the same size",
        )
    mode = color_of(images, color)
    return np.stack([to_array(image, mode) for image in images]), mode


def decode_image(data: bytes, color: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    """One encoded image file (a request) as channels x rows x columns of the training images' ``shape``."""
    image = open_image(data, "the value", where)
    pixels = to_array(image, color)
    if pixels.shape != tuple(shape):
        raise QCError(
            where,
            f"an image of {image.size[0]}x{image.size[1]} ({pixels.shape[0]} channel(s)); "
            f"expected {shape[2]}x{shape[1]} with {shape[0]} channel(s) as in training",
        )
    return pixels
