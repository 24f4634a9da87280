"""A gallery of a few correctly and wrongly classified samples of one model: thumbnails for images,
line plots for sequences. Samples are shown as the model saw them (after preprocessing), taken from
the prepared arrays; each image is scaled to its own range for display."""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd

from mlflow_qc.evaluate.figures_style import color, figure, titled
from mlflow_qc.evaluate.report import Report

PER_OUTCOME = 4
SPLIT_PREFERENCE = ("test", "validation", "fold_validation", "train")
SHOWN_KINDS = ("sequence", "image")


def add_gallery(report: Report, predictions: pd.DataFrame, runs: list, entry) -> None:
    """Add a "Samples" section to ``report`` when the job's first input is a sequence or an image."""
    kinds = entry.meta.get("kinds") or []
    index = next((i for i, kind in enumerate(kinds) if kind in SHOWN_KINDS), None)
    if index is None or predictions.empty or "probability_" not in "".join(map(str, predictions.columns)):
        return
    model = sorted(predictions["model"].astype(str).unique())[0]
    own = predictions[predictions["model"].astype(str) == model]
    split = next(s for s in SPLIT_PREFERENCE if s in set(own["split"].astype(str)))
    own = own[own["split"].astype(str) == split]
    correct = own["y_true"].astype(str) == own["prediction"].astype(str)
    chosen = pd.concat([own[correct].head(PER_OUTCOME), own[~correct].head(PER_OUTCOME)])
    context = _context_holding(entry, split, chosen["row"].to_numpy())
    if context is None:
        return
    rows = entry.rows(context)[split]
    features = entry.load(context, split).features[index]
    position = {int(row): i for i, row in enumerate(rows)}
    samples = [np.asarray(features[position[int(row)]]) for row in chosen["row"]]
    section = report.section("Samples")
    section.notes.append(
        f"{model}, split {split}: up to {PER_OUTCOME} correctly and {PER_OUTCOME} wrongly classified "
        "samples, as the model saw them (after preprocessing)."
    )
    captions = [_caption(row) for _, row in chosen.iterrows()]
    outcomes = ["correct" if ok else "wrong" for ok in correct.loc[chosen.index]]
    if kinds[index] == "image":
        section.html.append(_thumbnails(samples, captions, outcomes))
    else:
        section.figures += _sequence_figures(samples, captions, outcomes)


def _context_holding(entry, split: str, rows: np.ndarray) -> str | None:
    for context in entry.contexts + [c for c in ("refit",) if (entry.root / c).is_dir()]:
        split_rows = entry.rows(context).get(split)
        if split_rows is not None and np.isin(rows, split_rows).all():
            return context
    return None


def _caption(row: pd.Series) -> str:
    probability = row.get(f"probability_{row['prediction']}")
    confidence = f" ({probability:.2f})" if isinstance(probability, float) else ""
    return f"row {int(row['row'])}: actual {row['y_true']}, predicted {row['prediction']}{confidence}"


def _png(sample: np.ndarray) -> str:
    from PIL import Image

    pixels = np.squeeze(sample)
    if pixels.ndim == 3:  # channels first -> last
        pixels = np.moveaxis(pixels, 0, -1)
    low, high = float(np.nanmin(pixels)), float(np.nanmax(pixels))
    scaled = (
        np.zeros_like(pixels, dtype=np.uint8) if high <= low else ((pixels - low) / (high - low) * 255).astype(np.uint8)
    )
    buffer = io.BytesIO()
    Image.fromarray(scaled).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumbnails(samples: list[np.ndarray], captions: list[str], outcomes: list[str]) -> str:
    cells = []
    for sample, caption, outcome in zip(samples, captions, outcomes):
        border = "#2f9e44" if outcome == "correct" else "#e03131"
        cells.append(
            f'<figure class="qc-sample" style="display:inline-block;margin:.3rem;border:3px solid {border}">'
            f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{_png(sample)}" style="width:160px;image-rendering:pixelated">'
            f'<figcaption style="font-size:.75rem;max-width:160px">{html.escape(outcome)}: {html.escape(caption)}</figcaption></figure>'
        )
    return '<div class="qc-gallery">' + "".join(cells) + "</div>"


def _sequence_figures(samples: list[np.ndarray], captions: list[str], outcomes: list[str]) -> list:
    figures = []
    for outcome in ("correct", "wrong"):
        traces = []
        for index, (sample, caption) in enumerate(
            (s, c) for s, c, o in zip(samples, captions, outcomes) if o == outcome
        ):
            values = np.squeeze(sample)
            values = values[:, None] if values.ndim == 1 else values.reshape(values.shape[0], -1)
            for channel in range(values.shape[1]):
                label = caption if values.shape[1] == 1 else f"{caption}, channel {channel}"
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "x": np.arange(len(values)),
                        "y": values[:, channel],
                        "name": label,
                        "line": {"color": color(index), "width": 1.2},
                    }
                )
        if traces:
            figures.append(
                figure(
                    traces,
                    title={"text": f"Samples classified {'correctly' if outcome == 'correct' else 'wrongly'}"},
                    height=380,
                    xaxis=titled("timestep"),
                    yaxis=titled("value"),
                )
            )
    return figures
