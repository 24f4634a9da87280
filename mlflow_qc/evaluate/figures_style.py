"""What the figures share: split order, colours, thinning of long curves and capping of scatters."""

from __future__ import annotations

import functools
import weakref

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative, sequential

from mlflow_qc.tracking.names import SPLITS

SPLIT_ORDER = SPLITS
MAX_CURVE_POINTS = 200
MAX_SCATTER_POINTS = 2000
PALETTE = qualitative.Plotly
GUIDE = {"dash": "dot", "color": "#9aa5b1"}
# counts: white for none, darkest blue for the most (plotly's named "Blues" runs the other way)
COUNT_SCALE = [[i / (len(sequential.Blues) - 1), c] for i, c in enumerate(sequential.Blues)]
SOURCE = "_qc_source"  # the attribute holding a figure's own trace and layout dicts (report.figure_dict reads it)


class Figure:
    """A figure as the trace and layout dicts it was built from (``SOURCE``): reports encode those
    (``report.figure_dict``), ten times faster than plotly's deep copy and walk of a figure. plotly's
    ``go.Figure`` (``plotly``), whose construction alone cost a job report about 1.5 ms per model, is made
    the first time something asks for it or for any of its attributes (``data``, ``layout``, ``to_json``...).

    Its template is empty: the page holds plotly's default template once and applies it to every
    figure (``report.template_json``); setting it on each figure would copy the whole template."""

    def __init__(self, traces: list[dict], layout: dict):
        setattr(self, SOURCE, {"data": traces, "layout": layout})

    @functools.cached_property
    def plotly(self) -> go.Figure:
        """The plotly figure, built without plotly's per-property validation, as plotly express builds its own."""
        source = getattr(self, SOURCE)
        return go.Figure(data=source["data"], layout={"template": {}, **source["layout"]}, _validate=False)

    def __getattr__(self, name: str):
        if name.startswith("__") or name == SOURCE:
            raise AttributeError(name)
        return getattr(self.plotly, name)


def figure(traces: list[dict], **layout) -> Figure:
    """A figure from trace and layout dicts (``Figure``: plotly's own only when asked for)."""
    return Figure(traces, layout)


def titled(text: str) -> dict:
    return {"title": {"text": text}}


def guide_line(x0: float, y0: float, x1: float, y1: float, **axes) -> dict:
    """A dotted reference line (diagonal, threshold, zero) as a layout shape; ``axes`` may set xref/yref."""
    return {"type": "line", "x0": x0, "y0": y0, "x1": x1, "y1": y1, "line": GUIDE, **axes}


def per_frame(function):
    """``function(frame)`` remembered for the last frame it was given while that frame lives (a weak
    reference: nothing is kept alive): a job report's builders each group the same predictions frame,
    which is never changed in place once built."""
    last: list = [lambda: None, None]

    @functools.wraps(function)
    def remembered(frame: pd.DataFrame):
        seen, result = last
        if seen() is not frame:
            result = function(frame)
            last[:] = weakref.ref(frame), result
        return result

    return remembered


@per_frame
def ordered_splits(frame: pd.DataFrame) -> list[str]:
    present = [str(s) for s in frame["split"].unique()]
    return [s for s in SPLIT_ORDER if s in present] + [s for s in present if s not in SPLIT_ORDER]


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` evenly spaced points, ends kept; shorter curves are untouched (areas stay exact)."""
    if len(x) <= limit:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, limit).round().astype(int))
    return x[keep], y[keep]


def capped(frame: pd.DataFrame, limit: int = MAX_SCATTER_POINTS, seed: int = 0) -> pd.DataFrame:
    """A seeded random sample of at most ``limit`` rows (all rows when fewer)."""
    return frame if len(frame) <= limit else frame.sample(limit, random_state=seed).sort_index()
