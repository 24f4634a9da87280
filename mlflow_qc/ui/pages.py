"""The HTML of the pages: one shell (navigation, styles, data, scripts) around each page's body.

Everything a run or a user wrote (names, params, errors) is escaped here or set as text by
``static/qc.js``; the data a page needs travels as JSON in a non-executed ``<script>`` block with
``<``, ``>`` and ``&`` escaped, so no value can close it. No inline script runs: the pages are
served under a Content-Security-Policy that allows only the server's own scripts.
"""

from __future__ import annotations

import html
import json
import math
from http import HTTPStatus
from typing import TYPE_CHECKING

import numpy as np
from plotly.io.json import to_json_plotly

from mlflow_qc.evaluate.report import template_json
from mlflow_qc.evaluate.tables import html_table
from mlflow_qc.tracking.names import JOB, LEVEL, NOT_HYPERPARAMETERS, PAGES_ROOT, report_path, tracker_path

if TYPE_CHECKING:
    from mlflow_qc.ui.whatif import LoadedModel

TITLE = "QC"


def jsonable(value):
    """NaN and infinities as null, numpy scalars and arrays as plain values (JSON.parse takes no NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def script_json(text: str) -> str:
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def data_block(element_id: str, value) -> str:
    return f'<script type="application/json" id="{element_id}">{script_json(json.dumps(jsonable(value)))}</script>'


def shell(prefix: str, page: str, title: str, body: str, data=None, figures: bool = False) -> str:
    """A whole page; ``prefix``: MLflow's ``--static-prefix`` ("" by default), the pages live under ``prefix/qc``."""
    e = html.escape
    base, ui_root = prefix + PAGES_ROOT, prefix + "/"
    scripts = [data_block("qc-data", data if data is not None else {})]
    if figures:
        scripts.append(f'<script type="application/json" id="qc-template">{script_json(template_json())}</script>')
        scripts.append(f'<script src="{e(base)}/static/plotly.js"></script>')
    scripts.append(f'<script src="{e(base)}/static/qc.js"></script>')
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{e(title)} · {TITLE}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="{e(base)}/static/qc.css"></head>'
        f'<body data-page="{e(page)}" data-base="{e(base)}" data-ui="{e(ui_root)}">'
        f'<header class="qc-top"><a class="qc-home" href="{e(base)}/">QC experiments</a>'
        f'<a href="{e(ui_root)}">MLflow UI</a></header>'
        f'<main><h1 id="qc-title">{e(title)}</h1>{body}'
        f'<noscript><p class="qc-error">These pages need JavaScript.</p></noscript></main>'
        f"{''.join(scripts)}</body></html>"
    )


def error_page(prefix: str, status: int, message: str) -> str:
    body = (
        f'<p class="qc-error" id="qc-message">{html.escape(message)}</p>'
        f'<p><a href="{html.escape(prefix + PAGES_ROOT)}/">All QC experiments</a></p>'
    )
    return shell(prefix, "error", f"{HTTPStatus(status).phrase} ({status})", body)


def run_link(prefix: str, run) -> str:
    href = f"{prefix}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    return f'<a href="{html.escape(href)}">{html.escape(run.info.run_name or run.info.run_id)}</a>'


def compare_body(prefix: str, result: dict) -> tuple[str, list[dict]]:
    """The compare page's body and its figures (drawn by qc.js)."""
    e = html.escape
    cards = []
    for side in result["sides"]:
        params = ", ".join(f"{k}={v}" for k, v in side.run.data.params.items() if k not in NOT_HYPERPARAMETERS)
        tracker = prefix + tracker_path(side.experiment_run.info.run_id)
        report = (
            f' · <a href="{e(prefix + report_path(side.run.info.run_id))}">report</a>'
            if side.run.data.tags.get(LEVEL) == JOB
            else ""
        )
        cards.append(
            f'<section class="qc-side qc-side-{e(side.key)}"><h2>{e(side.key)}: {run_link(prefix, side.run)}</h2>'
            f"<p>{e(side.run.data.tags.get(LEVEL, ''))} run of {e(side.experiment_run.info.run_name or '')} "
            f'(<a href="{e(tracker)}">tracker</a>{report}); {len(side.models)} model(s)</p>'
            f'<p class="qc-note">{e(params)}</p></section>'
        )
    notes = "".join(f'<p class="qc-note">{e(note)}</p>' for note in result["notes"])
    parts = [
        f'<div class="qc-sides">{"".join(cards)}</div>',
        "<h2>Metrics per split</h2>",
        notes,
        f'<div id="qc-metrics">{html_table(result["table"])}</div>',
    ]
    figures, count = [], 0
    for title, section_figures, side_by_side in result["sections"]:
        holders = []
        for figure in section_figures:
            holders.append(f'<div id="qc-figure-{count}" class="qc-figure"></div>')
            figures.append({"target": f"qc-figure-{count}", "figure": figure})
            count += 1
        grid = "qc-pairs" if side_by_side else "qc-grid"
        parts.append(f'<h2>{e(title)}</h2><div class="{grid}">{"".join(holders)}</div>')
    return "".join(parts), figures


def figure_blocks(figures: list[dict]) -> str:
    return "".join(
        f'<script type="application/json" class="qc-figure-data" data-target="{html.escape(f["target"])}">'
        f"{script_json(to_json_plotly(f['figure']))}</script>"
        for f in figures
    )


def versions_body(prefix: str, versions: list[dict]) -> str:
    """The registered model versions the what-if page can open, each linked to it."""
    e = html.escape
    if not versions:
        return (
            '<p id="qc-message">No registered model version of a run you may read: the what-if page loads registered '
            "models only (register one with the recipe's <code>register:</code>, <code>mlflow-qc register</code> or "
            "MLflow's Model Registry).</p>"
        )
    rows = "".join(
        f'<tr><td><a class="qc-whatif-link" href="{e(prefix + PAGES_ROOT)}/whatif/{e(v["run_id"])}">{e(v["name"])}</a></td>'
        f"<td>{e(v['version'])}</td><td>{e(v['run_id'])}</td></tr>"
        for v in versions
    )
    return (
        f'<p>The what-if page opens registered model versions only.</p><table id="qc-versions"><thead><tr><th>model</th>'
        f"<th>version</th><th>model run</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def whatif_body(prefix: str, run, loaded: LoadedModel) -> str:
    e = html.escape
    rows = []
    for index, spec in enumerate(loaded.fields):
        options = ""
        attributes = f'id="field-{index}" name="{e(spec.name)}" data-field="{e(spec.name)}" value="{e(spec.default)}" autocomplete="off"'
        if spec.values:
            choices = "".join(f'<option value="{e(value)}"></option>' for value in spec.values)
            options = f'<datalist id="values-{index}">{choices}</datalist>'
            attributes += f' list="values-{index}"'
        if spec.kind == "number":
            attributes += ' inputmode="decimal"'
        importance = f'<span class="qc-importance">{spec.importance:.2g}</span>' if spec.importance is not None else ""
        rows.append(
            f'<div class="qc-field"><label for="field-{index}">{e(spec.name)}</label>'
            f'<input type="text" {attributes}>{options}{importance}'
            f'<span class="qc-hint">{e(spec.hint)}</span>'
            f'<span class="qc-field-error" data-error-for="{e(spec.name)}" role="alert"></span></div>'
        )
    order = (
        "ordered by permutation importance (loss increase when shuffled)"
        if any(f.importance is not None for f in loaded.fields)
        else "in the model's column order (no importance computed)"
    )
    source = (
        "start at the training median (numbers) or most frequent value"
        if loaded.typical_source == "training rows"
        else "start at the model's input example (it was logged before typical values were kept)"
    )
    return (
        f'<p>Model {run_link(prefix, run)} (registered as <code id="qc-version">{e(loaded.version)}</code>): '
        f"{e(loaded.analysis_type)}. Fields {e(order)}; they {e(source)}.</p>"
        f'<div class="qc-whatif"><form id="qc-form" novalidate>{"".join(rows)}'
        f'<p><button type="button" id="qc-reset">Back to the typical sample</button></p></form>'
        f'<section class="qc-answer"><h2>Prediction</h2><p id="qc-prediction" aria-live="polite">…</p>'
        f'<p class="qc-error" id="qc-form-error" role="alert"></p>'
        f'<div id="qc-probabilities" class="qc-figure"></div><div id="qc-probability-table"></div></section></div>'
    )
