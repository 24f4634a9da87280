"""Small tables as Markdown, LaTeX or HTML without extra dependencies."""

from __future__ import annotations

import html
import math
import re

import pandas as pd


def cell(value, digits: int = 4) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    return str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    escape = lambda text: text.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    header = "| " + " | ".join(escape(str(c)) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(escape(cell(v)) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


LATEX_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
}


def latex_escape(text: str) -> str:
    return re.sub(r"[&%$#_{}~^\\]", lambda m: LATEX_SPECIAL[m.group()], text)


def latex_table(frame: pd.DataFrame, caption: str = "") -> str:
    lines = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    lines += [r"\begin{tabular}{" + "l" * len(frame.columns) + "}", r"\hline"]
    lines.append(" & ".join(latex_escape(str(c)) for c in frame.columns) + r" \\")
    lines.append(r"\hline")
    lines += [" & ".join(latex_escape(cell(v)) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def html_table(frame: pd.DataFrame, css_class: str = "qc-table") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
