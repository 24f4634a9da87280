"""Sequence and image datasets: .npy/.npz arrays, image folders, manifests; their errors."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mlflow_qc.data.dataset import load_dataset
from mlflow_qc.errors import QCError
from mlflow_qc.recipe import DatasetSpec


def image(path, size=(12, 8), mode="L", value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 20, 30)).save(path)
    return path


def load(**spec):
    return load_dataset(DatasetSpec(**spec), "data.inputs[0].dataset")


def test_a_3d_npy_is_a_sequence_and_a_4d_one_an_image(tmp_path):
    np.save(tmp_path / "seq.npy", np.zeros((5, 7, 2)))
    np.savez(tmp_path / "img.npz", pixels=np.zeros((4, 3, 6, 5), dtype=np.uint8))
    sequence, images = load(path=str(tmp_path / "seq.npy")), load(path=str(tmp_path / "img.npz"))
    assert (sequence.kind, sequence.n_samples, sequence.sample_shape) == ("sequence", 5, (7, 2))
    assert (images.kind, images.n_samples, images.sample_shape, images.color) == ("image", 4, (3, 6, 5), "RGB")


def test_an_image_folder_is_read_sorted_by_name_channels_first(tmp_path):
    for name, value in (("b.png", 20), ("a.png", 10), ("c.jpg", 30)):
        image(tmp_path / "imgs" / name, value=value)
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    dataset = load(path=str(tmp_path / "imgs"))
    assert [f.rsplit("/", 1)[1] for f in dataset.files] == ["a.png", "b.png", "c.jpg"]
    assert dataset.array.shape == (3, 1, 8, 12) and dataset.color == "L"
    assert dataset.array[0, 0, 0, 0] == 10 and dataset.array[1, 0, 0, 0] == 20
    rgb = load(path=str(tmp_path / "imgs"), color="RGB")
    assert rgb.array.shape == (3, 3, 8, 12)


def test_a_manifest_keeps_its_table_and_reads_the_images_it_names(tmp_path):
    for name in ("x.png", "y.png"):
        image(tmp_path / "pics" / name)
    pd.DataFrame({"file": ["pics/y.png", "pics/x.png"], "label": ["a", "b"]}).to_csv(tmp_path / "m.csv", index=False)
    dataset = load(path=str(tmp_path / "m.csv"), kind="image", image_column="file")
    assert dataset.kind == "image" and dataset.array.shape == (2, 1, 8, 12)
    assert list(dataset.frame["label"]) == ["a", "b"] and dataset.files[0].endswith("pics/y.png")


@pytest.mark.parametrize(
    "case, expected",
    [
        ("mixed sizes", "images differ in size: a.png is 12x8, b.png is 9x9; expected every image the same size"),
        ("unreadable", "data.inputs[0].dataset.path: b.png is not an image file Pillow can read"),
        ("missing in manifest", "data.inputs[0].dataset.image_column: row 1: pics/gone.png does not exist"),
        ("manifest column", "data.inputs[0].dataset.image_column: 'path' is not a column of m.csv"),
        ("wrong rank", "data.inputs[0].dataset.path: seq.npy has 2 dimensions (5, 7); expected 3 for sequence data"),
        (
            "npz with two arrays",
            "data.inputs[0].dataset.path: two.npz holds the arrays ['a', 'b']; expected exactly one",
        ),
        ("not numbers", "data.inputs[0].dataset.path: text.npy holds <U1 values; expected numbers"),
        ("no images", "holds no image files"),
    ],
)
def test_bad_n_d_data_gets_one_line_naming_the_field(tmp_path, case, expected):
    spec = {}
    if case == "mixed sizes":
        image(tmp_path / "d" / "a.png"), image(tmp_path / "d" / "b.png", size=(9, 9))
        spec = {"path": str(tmp_path / "d")}
    elif case == "unreadable":
        image(tmp_path / "d" / "a.png")
        (tmp_path / "d" / "b.png").write_bytes(b"not a png")
        spec = {"path": str(tmp_path / "d")}
    elif case in ("missing in manifest", "manifest column"):
        image(tmp_path / "pics" / "x.png")
        pd.DataFrame({"file": ["pics/x.png", "pics/gone.png"]}).to_csv(tmp_path / "m.csv", index=False)
        spec = {
            "path": str(tmp_path / "m.csv"),
            "kind": "image",
            "image_column": "file" if case.startswith("missing") else "path",
        }
    elif case == "wrong rank":
        np.save(tmp_path / "seq.npy", np.zeros((5, 7)))
        spec = {"path": str(tmp_path / "seq.npy"), "kind": "sequence"}
    elif case == "npz with two arrays":
        np.savez(tmp_path / "two.npz", a=np.zeros((2, 3, 4)), b=np.zeros(2))
        spec = {"path": str(tmp_path / "two.npz"), "kind": "sequence"}
    elif case == "not numbers":
        np.save(tmp_path / "text.npy", np.array([[["a"]]]))
        spec = {"path": str(tmp_path / "text.npy"), "kind": "sequence"}
    elif case == "no images":
        (tmp_path / "empty").mkdir()
        spec = {"path": str(tmp_path / "empty")}
    with pytest.raises(QCError) as raised:
        load(**spec)
    message = str(raised.value)
    assert expected in message and "\n" not in message
