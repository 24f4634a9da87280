"""One HTML page per run: sections of plotly figures and tables, plus their JSON.

The reports of a training share one plotly.js, ``qc/plotly.mjs`` of the experiment run
(``Report.plotly_run``), written once: the page loads it from the MLflow server that shows it
(``/get-artifact``: the MLflow UI's artifact viewer is a sandboxed frame at a ``blob:`` address of
the server's origin, where a relative address resolves to nothing), or, opened from the artifact
folder on disk, by its relative path. ``.mjs`` because MLflow serves ``.js`` artifacts as
text/plain with ``nosniff``, which a browser refuses to run; ``.mjs`` gets a JavaScript type.
Nothing leaves the machine that serves the runs. A report without ``plotly_run`` (the ``qc``
evaluator's) embeds plotly.js, gzip-compressed and base64-encoded (about 2 MB instead of 4.8 MB),
unpacked in the browser with ``DecompressionStream``. Figures are stored as JSON in the page (the
plotly template once) and drawn once plotly.js is loaded. ``report.json`` holds the same figures
with plain number lists (``plotly.io.from_json`` rebuilds each) and the tables.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io.json import to_json_plotly

from mlflow_qc.evaluate.figures_style import SOURCE, Figure
from mlflow_qc.evaluate.tables import html_table
from mlflow_qc.tracking.artifact_location import local_artifact_folder
from mlflow_qc.tracking.names import PING_PATH, REPORT_HTML, REPORT_JSON

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#1f2933}
nav a{margin-right:1rem} h2{border-bottom:1px solid #d9e2ec;padding-bottom:.3rem;margin-top:2rem}
.qc-figure{width:100%;min-height:420px}
.qc-table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
.qc-table td,.qc-table th{border:1px solid #d9e2ec;padding:.25rem .5rem;text-align:left}
.qc-note{color:#52606d;font-size:.9rem}
"""

SHARED_PLOTLYJS = "qc/plotly.mjs"

# Two ways to get plotly.js, then the same drawing (LOADER): from the page itself, or shared.
EMBEDDED_PLOTLYJS = """
async function qcPlotly() {
  const packed = document.getElementById("qc-plotly-js").textContent;
  const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const code = await new Response(stream).text();
  const script = document.createElement("script");
  script.textContent = code;
  document.head.appendChild(script);
}
"""

LINKED_PLOTLYJS = """
async function qcPlotly() {
  const shared = JSON.parse(document.getElementById("qc-plotly-shared").textContent);
  const sources = [];
  try {
    const origin = new URL(location.href).origin;  // a blob: address has its server's origin
    if (/^https?:/.test(origin)) {
      sources.push(origin + "/get-artifact?path=" + encodeURIComponent(shared.path) \
+ "&run_uuid=" + encodeURIComponent(shared.run));
    }
  } catch (error) {}
  sources.push(shared.relative);
  for (const source of sources) {
    const loaded = await new Promise((resolve) => {
      const script = document.createElement("script");
      script.src = source;
      script.onload = () => resolve(true);
      script.onerror = () => resolve(false);
      document.head.appendChild(script);
    });
    if (loaded && window.Plotly) return;
  }
  const note = document.createElement("p");
  note.className = "qc-note";
  note.textContent = "The figures need plotly.js, " + shared.path + " of the experiment run " + shared.run +
    ": open this report in the MLflow UI, or from the run's artifact folder beside the experiment run's.";
  document.body.prepend(note);
  throw new Error("plotly.js not found");
}
"""

LOADER = """
(async function () {
  try { await qcPlotly(); } catch (error) { document.body.dataset.qcRendered = "false"; return; }
  const config = %s;
  const template = JSON.parse(document.getElementById("qc-template").textContent);
  for (const holder of document.querySelectorAll("script.qc-figure-data")) {
    try {
      const figure = JSON.parse(holder.textContent);
      const layout = Object.assign({template: template}, figure.layout || {});
      await Plotly.newPlot(holder.dataset.target, figure.data, layout, config);
    } catch (error) {
      console.error("figure " + holder.dataset.target + ": " + error);
    }
  }
  document.body.dataset.qcRendered = "true";
})();
"""

# The links to the QC pages show only where a server with the pages answers (mlflow-qc ui): the
# report may be opened from a file, or from a plain `mlflow ui`. Inside the MLflow UI the report is
# a sandboxed frame whose address is a blob: URL of the server's origin, and the sandbox blocks
# every navigation out of it, so there the address is also shown as text to open in a new tab.
PAGE_LINKS = """
(async function () {
  const nav = document.getElementById("qc-pages");
  let origin = "null";
  try { origin = new URL(location.href).origin; } catch (error) { return; }
  if (!nav || !/^https?:/.test(origin)) return;
  try {
    const answer = await fetch(origin + nav.dataset.ping, {cache: "no-store"});
    if (!answer.ok || !(await answer.json()).qc) return;
  } catch (error) { return; }
  const framed = window.top !== window.self;
  for (const link of nav.querySelectorAll("a[data-qc-path]")) {
    link.href = origin + link.dataset.qcPath;
    link.target = "_top";
    if (framed) link.after(document.createTextNode(" (" + link.href + ")"));
  }
  if (framed) nav.appendChild(document.createTextNode(" Open an address in a new tab: the artifact viewer \
keeps links inside it."));
  nav.hidden = false;
  document.body.dataset.qcPages = "shown";
})();
"""


@lru_cache(maxsize=1)
def template_json() -> str:
    return to_json_plotly(pio.templates[pio.templates.default].to_plotly_json())


def share_plotlyjs(client, run_id: str) -> None:
    """``qc/plotly.mjs`` on ``run_id``, written once (whole, or not at all)."""
    if run_id in _SHARED:
        return
    from plotly.offline import get_plotlyjs

    folder = local_artifact_folder(client.get_run(run_id).info.artifact_uri)
    name = Path(SHARED_PLOTLYJS).name
    if folder is not None:
        target = folder / SHARED_PLOTLYJS
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace(target, get_plotlyjs())
    elif name not in {Path(f.path).name for f in client.list_artifacts(run_id, str(Path(SHARED_PLOTLYJS).parent))}:
        client.log_text(run_id, get_plotlyjs(), SHARED_PLOTLYJS)
    _SHARED.add(run_id)


_SHARED: set[str] = set()  # runs whose qc/plotly.mjs this process has written or seen


@lru_cache(maxsize=1)
def packed_plotlyjs() -> str:
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode(), 6, mtime=0)).decode("ascii")


def _script_json(text: str) -> str:
    return text.replace("</", "<\\/")


def figure_dict(figure: Figure | go.Figure) -> dict:
    """The figure as plotly JSON (numeric arrays base64-typed, as plotly.js reads them; a new dict the
    caller may change), without its template (the page holds it once). A figure of ``figures_style.figure``
    is encoded from the dicts it was built from; any other, or one holding what ``typed`` does not know,
    through plotly's public ``plotly.io.to_json``."""
    source = getattr(figure, SOURCE, None)
    if source is not None:
        try:
            return typed(source)
        except TypeError:
            pass
    plotly_json = json.loads(pio.to_json(getattr(figure, "plotly", figure), validate=False))
    plotly_json["layout"].pop("template", None)
    return plotly_json


# plotly.js's typed arrays ({dtype, bdata[, shape]}, little-endian): the numeric types it reads
TYPED_ARRAY_KINDS = {"f": ("f8", "f4"), "i": ("i4", "i2", "i1"), "u": ("u4", "u2", "u1")}


def typed(value):
    """``value`` (dicts, lists, numbers, strings, numpy arrays and scalars, pandas series) as plain JSON
    values with numeric arrays base64-typed; TypeError for anything else."""
    if isinstance(value, dict):
        return {str(k): typed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, np.generic):
        return typed(value.item())
    if isinstance(value, (pd.Series, pd.Index)):
        value = value.to_numpy()
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return typed(value.item())
        if value.dtype.kind not in TYPED_ARRAY_KINDS:
            return [typed(v) for v in value.tolist()] if value.dtype.kind in "bOU" else _untyped(value)
        dtype = _typed_dtype(value)
        if dtype is None:
            return value.tolist()
        array = np.ascontiguousarray(value, dtype=np.dtype(dtype).newbyteorder("<"))
        encoded = {"dtype": dtype, "bdata": base64.b64encode(array.tobytes()).decode("ascii")}
        return {**encoded, "shape": ",".join(map(str, array.shape))} if array.ndim > 1 else encoded
    return _untyped(value)


def _typed_dtype(array: np.ndarray) -> str | None:
    """The narrowest typed-array type holding ``array`` exactly (None: a list is exact)."""
    if array.dtype.kind == "f":
        return "f4" if array.dtype.itemsize <= 4 else "f8"
    if array.size == 0:
        return "i4" if array.dtype.kind == "i" else "u4"
    low, high = int(array.min()), int(array.max())
    for dtype in TYPED_ARRAY_KINDS[array.dtype.kind][::-1]:
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return dtype
    return None


def _untyped(value):
    raise TypeError(f"no plain JSON for {type(value).__name__}")


def plain(value):
    """Numpy and base64-typed arrays ({dtype, bdata[, shape]}) as lists, for readers other than plotly.js."""
    if isinstance(value, dict):
        if set(value) >= {"dtype", "bdata"} and set(value) <= {"dtype", "bdata", "shape"}:
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
            if "shape" in value:
                array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
            return array.tolist()
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


@dataclass
class Section:
    title: str
    figures: list[Figure | go.Figure] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    html: list[str] = field(default_factory=list)  # trusted fragments built by mlflow_qc
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    pages: list[tuple[str, str]] = field(default_factory=list)  # (label, path) of QC pages about the same runs
    plotly_run: str | None = None  # the run whose qc/plotly.mjs the page loads (None: plotly.js embedded)

    def section(self, title: str) -> Section:
        found = next((s for s in self.sections if s.title == title), None)
        if found is None:
            found = Section(title)
            self.sections.append(found)
        return found

    @property
    def figures(self) -> list[Figure | go.Figure]:
        return [f for s in self.sections for f in s.figures]

    def _figure_dicts(self) -> dict[int, dict]:
        """Each figure's plotly JSON, built once for both the page and report.json (plotly's
        serialisation is most of a report's cost)."""
        return {id(f): figure_dict(f) for f in self.figures}

    def to_json(self, dicts: dict[int, dict] | None = None) -> str:
        dicts = dicts or self._figure_dicts()
        sections = []
        for s in self.sections:
            figures = ",".join(to_json_plotly(plain(dicts[id(f)])) for f in s.figures)
            tables = json.dumps({name: json.loads(t.to_json(orient="records")) for name, t in s.tables})
            sections.append(
                f'{{"title":{json.dumps(s.title)},"figures":[{figures}],"tables":{tables},"notes":{json.dumps(s.notes)}}}'
            )
        pages = json.dumps([{"label": label, "path": path} for label, path in self.pages])
        return (
            f'{{"title":{json.dumps(self.title)},"subtitle":{json.dumps(self.subtitle)},"pages":{pages},'
            f'"sections":[{",".join(sections)}]}}'
        )

    def to_html(self, dicts: dict[int, dict] | None = None) -> str:
        dicts = dicts or self._figure_dicts()
        nav, body, count = [], [], 0
        for index, s in enumerate(self.sections):
            anchor = f"section-{index}"
            nav.append(f'<a href="#{anchor}">{html.escape(s.title)}</a>')
            body.append(f'<h2 id="{anchor}">{html.escape(s.title)}</h2>')
            body += [f'<p class="qc-note">{html.escape(note)}</p>' for note in s.notes]
            body += s.html
            for name, table in s.tables:
                body.append(f"<h3>{html.escape(name)}</h3>{html_table(table)}")
            for figure in s.figures:
                target = f"qc-figure-{count}"
                count += 1
                data = _script_json(to_json_plotly(dicts[id(figure)]))
                body.append(
                    f'<div id="{target}" class="qc-figure"></div>'
                    f'<script type="application/json" class="qc-figure-data" data-target="{target}">{data}</script>'
                )
        subtitle = f'<p class="qc-note">{html.escape(self.subtitle)}</p>' if self.subtitle else ""
        return (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>{subtitle}"
            # the links last: the page opens on its figures
            f"<nav>{''.join(nav)}</nav>{''.join(body)}{self._pages_html()}"
            f'<script id="qc-template" type="application/json">{_script_json(template_json())}</script>'
            f"{self._plotlyjs_html()}<script>{LOADER % json.dumps(PLOTLY_CONFIG)}</script>"
            f"{f'<script>{PAGE_LINKS}</script>' if self.pages else ''}</body></html>"
        )

    def _plotlyjs_html(self) -> str:
        if self.plotly_run is None:
            return (
                f'<script id="qc-plotly-js" type="application/octet-stream">{packed_plotlyjs()}</script>'
                f"<script>{EMBEDDED_PLOTLYJS}</script>"
            )
        # from <location>/<run>/artifacts/qc/report.html to <location>/<plotly_run>/artifacts/qc/plotly.mjs
        shared = {
            "run": self.plotly_run,
            "path": SHARED_PLOTLYJS,
            "relative": f"../../../{self.plotly_run}/artifacts/{SHARED_PLOTLYJS}",
        }
        return (
            f'<script id="qc-plotly-shared" type="application/json">{_script_json(json.dumps(shared))}</script>'
            f"<script>{LINKED_PLOTLYJS}</script>"
        )

    def _pages_html(self) -> str:
        if not self.pages:
            return ""
        links = " · ".join(
            f'<a data-qc-path="{html.escape(path)}">{html.escape(label)}</a>' for label, path in self.pages
        )
        return f'<p class="qc-pages" id="qc-pages" hidden data-ping="{html.escape(PING_PATH)}">QC pages: {links}.</p>'

    def write(self, folder: Path) -> tuple[Path, Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        page, data = folder / Path(REPORT_HTML).name, folder / Path(REPORT_JSON).name
        dicts = self._figure_dicts()
        _replace(page, self.to_html(dicts))
        _replace(data, self.to_json(dicts))
        return page, data

    def log(self, client, run_id: str, artifact_uri: str | None = None) -> None:
        """The page and its JSON as the run's artifacts: written straight into its artifact folder when
        that is local (as MLflow's local repository would copy them there), else uploaded."""
        if self.plotly_run is not None:
            share_plotlyjs(client, self.plotly_run)
        folder = local_artifact_folder(artifact_uri or client.get_run(run_id).info.artifact_uri)
        if folder is not None:
            self.write(folder / Path(REPORT_HTML).parent)
            return
        with tempfile.TemporaryDirectory() as tmp:
            self.write(Path(tmp))
            client.log_artifacts(run_id, tmp, str(Path(REPORT_HTML).parent))


def _replace(path: Path, text: str) -> None:
    """``path`` holds ``text`` whole or keeps what it held: a reader (the MLflow UI) never sees half a page."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
