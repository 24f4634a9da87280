"""Request fuzzing against one real ``mlflow models serve`` of a qc model (iris, the session's server).

Seeded malformed requests: broken JSON, wrong orients, missing and extra columns, strings in
numbers, NaN and infinities, nulls, 10 MB bodies, deeply nested values, wrong content types,
bad CSV. Every one gets a 4xx with a message, and the answer to a good request is byte for byte the
same before and after. Two kinds are MLflow's own behaviour for every model, which a qc model no longer
changes (issue 25): ``params`` are dropped with MLflow's warning (a qc model has no params schema), and
JSON nested deeper than Python's recursion limit fails in MLflow's decoder (HTTP 500) before any model runs.
"""

from __future__ import annotations

import collections
import json
import random

import pandas as pd
import pytest
import requests

pytestmark = pytest.mark.e2e

SEED = 15
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]
MEGABYTES_10 = 10 * 2**20
TOO_DEEP = "nested deeper than Python reads"  # MLflow's decoder: HTTP 500, for any model
JUNK_PARAMS = "junk params"  # MLflow drops them for a model without a params schema


def split(columns=COLUMNS, rows=ROWS) -> dict:
    return {"dataframe_split": {"columns": columns, "data": rows}}


def records(rows=ROWS, columns=COLUMNS) -> dict:
    return {"dataframe_records": [dict(zip(columns, row)) for row in rows]}


GOOD = json.dumps(split())


def _cell(rng: random.Random, value) -> tuple[int, int, list]:
    rows = [list(row) for row in ROWS]
    r, c = rng.randrange(len(rows)), rng.randrange(len(COLUMNS))
    rows[r][c] = value
    return r, c, rows


def _nested(depth: int, leaf="1", opener="[", closer="]") -> str:
    return opener * depth + leaf + closer * depth


def requests_to_fuzz(seed: int) -> list[tuple[str, str, bytes | str]]:
    """(kind, content type, body) of every malformed request, drawn from one seeded generator."""
    rng = random.Random(seed)
    found = []

    def add(kind, body, content_type="application/json"):
        found.append((kind, content_type, body if isinstance(body, (bytes, str)) else json.dumps(body, allow_nan=True)))

    for _ in range(40):  # broken JSON: cut, a stray character, a quote or brace gone
        text = GOOD
        cut = rng.randrange(1, len(text) - 1)
        add(
            "broken json",
            rng.choice(
                [
                    text[:cut],
                    text[:cut] + rng.choice('{[,:"}') + text[cut:],
                    text.replace('"', "", 1 + rng.randrange(3)),
                    text.replace(":", "=", 1),
                    text.replace("}", "", 1),
                    text + "}",
                    "{" + text,
                ]
            ),
        )
    for junk in (
        b"",
        b"\x00\xff\xfe",
        bytes(rng.randrange(256) for _ in range(64)),
        b"\xef\xbb\xbf{",
        "null",
        "3",
        '"text"',
        "[]",
        "true",
    ):
        add("not a JSON object", junk)
    for body in (  # wrong orients and shapes
        {"dataframe_split": records()["dataframe_records"]},
        {"dataframe_records": split()["dataframe_split"]},
        {"dataframe_split": {"data": ROWS}},
        {"dataframe_split": {"columns": COLUMNS}},
        {"dataframe_split": {"columns": COLUMNS, "data": {"0": ROWS[0]}}},
        {"dataframe_split": {"columns": COLUMNS, "data": [[1, 2, 3]]}},
        {"dataframe_split": {"columns": COLUMNS, "index": [0], "data": ROWS}},
        {"dataframe_split": "rows"},
        {"dataframe_split": None},
        {"dataframe_records": None},
        {"dataframe_records": [ROWS[0]]},
        {"dataframe_records": ["a", "b"]},
        {"dataframe_records": {"sepal_length": 1}},
        {"instances": ROWS},
        {"inputs": ROWS},
        {"inputs": ROWS[0]},
        {"inputs": {"sepal_length": [1.0]}},
        {"dataframe": split()["dataframe_split"]},
        {"rows": ROWS},
        {},
        {**split(), **records()},
        {**split(), "inputs": ROWS},
        {"dataframe_split": {"columns": COLUMNS, "data": []}},
        {"dataframe_records": []},
        {"dataframe_split": {"columns": [], "data": [[]]}},
    ):
        add("wrong orient", body)
    for _ in range(20):  # missing columns, in both orients
        keep = sorted(rng.sample(range(4), rng.randrange(0, 4)))
        columns = [COLUMNS[i] for i in keep]
        rows = [[row[i] for i in keep] for row in ROWS]
        add("missing column", split(columns, rows) if rng.random() < 0.5 else records(rows, columns))
    for _ in range(20):  # extra and repeated columns
        extra = rng.sample(["colour", "species", "Sepal_Length", "sepal_length ", "", "id"], rng.randrange(1, 3))
        if rng.random() < 0.3:
            extra = [rng.choice(COLUMNS)]
        rows = [row + [rng.random() for _ in extra] for row in ROWS]
        add("extra column", split(COLUMNS + extra, rows) if rng.random() < 0.6 else records(rows, COLUMNS + extra))
    for _ in range(25):  # text where numbers go
        *_, rows = _cell(rng, rng.choice(["abc", "", " ", "1,5", "5.1cm", "0x10", "∞", "nan%", "1e", "--1"]))
        add("string in a number", split(rows=rows) if rng.random() < 0.5 else records(rows))
    for value in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400"):
        for _ in range(3):  # JSON literals Python's parser accepts
            r, c, _ = _cell(rng, 0)
            text = (
                GOOD.replace(json.dumps(ROWS[r][c]), value, 1)
                if rng.random() < 0.5
                else json.dumps(split()).replace(
                    json.dumps(ROWS[r]), json.dumps(ROWS[r]).replace(json.dumps(ROWS[r][c]), value, 1), 1
                )
            )
            add("NaN or infinity", text)
    for _ in range(12):  # nulls
        choice = rng.randrange(6)
        if choice == 0:
            *_, rows = _cell(rng, None)
            add("null", split(rows=rows))
        elif choice == 1:
            add("null", split(rows=[[None] * 4] + ROWS[1:]))
        elif choice == 2:
            add("null", split(rows=[[row[0], None, row[2], row[3]] for row in ROWS]))
        elif choice == 3:
            add("null", {"dataframe_split": {"columns": None, "data": ROWS}})
        elif choice == 4:
            add("null", {"dataframe_split": {"columns": COLUMNS, "data": None}})
        else:
            add("null", records(rows=[[None, None, None, None]]))
    for depth in (2, 5, 50, 500, 5_000, 100_000):  # deeply nested cells, rows and bodies
        kind = "deeply nested" if depth < 1000 else TOO_DEEP
        for shape in range(3):
            r, c, _ = _cell(rng, 0)
            if shape == 0:
                add(kind, json.dumps(split()).replace(json.dumps(ROWS[r][c]), _nested(depth), 1))
            elif shape == 1:
                add(kind, json.dumps(split()).replace(json.dumps(ROWS[r][c]), _nested(depth, "1", '{"a": ', "}"), 1))
            else:
                add(kind, '{"dataframe_split": ' + _nested(depth, json.dumps(split()["dataframe_split"])) + "}")
    add(TOO_DEEP, _nested(200_000))
    big_rows = [list(ROWS[0]) for _ in range(MEGABYTES_10 // len(json.dumps(ROWS[0])))]
    add("10 MB body", json.dumps(split(COLUMNS + ["colour"], [row + [1.0] for row in big_rows])))
    add("10 MB body", json.dumps(split(rows=big_rows[:-1] + [["x", 1, 2, 3]])))
    add("10 MB body", json.dumps(split(COLUMNS[:3], [row[:3] for row in big_rows])))
    add("10 MB body", " " * MEGABYTES_10 + "{")
    add(
        "10 MB body",
        '{"dataframe_split": {"columns": ' + json.dumps(COLUMNS) + ', "data": [' + "[1,2,3,4]," * (MEGABYTES_10 // 10),
    )
    add("10 MB body", json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [["a" * MEGABYTES_10, 1, 2, 3]]}}))
    csv_good = pd.DataFrame(ROWS, columns=COLUMNS).to_csv(index=False)
    for body, content_type in (
        (GOOD, "text/plain"),
        (GOOD, "application/xml"),
        (GOOD, "application/json; charset=latin-1"),
        (GOOD, "application/json; format=pandas-split"),
        (GOOD, "text/csv"),
        (csv_good, "application/json"),
        (csv_good.replace("5.1", "abc"), "text/csv"),
        ('a,b\n1,2,3\n"', "text/csv"),
        (csv_good.split("\n", 1)[1], "text/csv"),
        (csv_good.replace("sepal_length", "colour"), "text/csv"),
        ("", "text/csv"),
        (b"\xff\xfe" + csv_good.encode(), "text/csv"),
        (GOOD, "application/vnd.apache.parquet"),
        (b"PAR1junk", "application/vnd.apache.parquet"),
    ):
        add("content type or CSV", body, content_type)
    for params in ({"a": 1}, [1], "text", {"threshold": 0.9}, 3):
        add(JUNK_PARAMS, {**split(), "params": params})
    for value in (10**400, -(10**400), int("9" * 500)):
        *_, rows = _cell(rng, value)
        add("number too large", json.dumps(split(rows=rows)))
    rng.shuffle(found)
    return found


def post(url: str, content_type: str, body) -> requests.Response:
    data = body.encode() if isinstance(body, str) else body
    return requests.post(f"{url}/invocations", data=data, headers={"Content-Type": content_type}, timeout=120)


def test_malformed_requests_get_4xx_with_a_message_and_serving_is_unchanged(iris_url):
    before = post(iris_url, "application/json", GOOD)
    assert before.status_code == 200, before.text[:2000]
    cases = requests_to_fuzz(SEED)
    problems, kinds = [], collections.Counter()
    for kind, content_type, body in cases:
        response = post(iris_url, content_type, body)
        kinds[kind] += 1
        shown = body[:80] if isinstance(body, (str, bytes)) else body
        if kind == JUNK_PARAMS:
            if response.status_code != 200 or response.content != before.content:
                problems.append(f"{kind} {shown!r}: HTTP {response.status_code}, not the good request's answer")
        elif kind == TOO_DEEP:
            if response.status_code >= 600 or response.status_code < 400:
                problems.append(f"{kind} {shown!r}: HTTP {response.status_code}")
        elif not 400 <= response.status_code < 500:
            problems.append(f"{kind} {content_type} {shown!r}: HTTP {response.status_code} {response.text[:200]}")
        elif not response.text.strip():
            problems.append(f"{kind} {content_type} {shown!r}: HTTP {response.status_code} without a message")
        elif response.headers.get("content-type", "").startswith("application/json") and not response.json().get(
            "message"
        ):
            problems.append(f"{kind} {content_type} {shown!r}: JSON answer without a message: {response.text[:200]}")
    after = post(iris_url, "application/json", GOOD)
    assert problems == [], f"{len(problems)} of {len(cases)} requests:\n" + "\n".join(problems[:25])
    assert len(cases) >= 200, kinds
    assert after.status_code == 200 and after.content == before.content


def test_named_problems_name_the_column(iris_url):
    """A sample of the fuzzed kinds with the message a client needs."""
    rows = [list(row) for row in ROWS]
    rows[1][2] = "abc"
    expectations = [
        (split(COLUMNS[:3], [row[:3] for row in ROWS]), ["petal_width", "missing"]),
        (split(COLUMNS + ["colour"], [row + [1] for row in ROWS]), ["colour", "unexpected"]),
        (split(rows=rows), ["petal_length"]),
        (json.dumps(split()).replace("5.1", "NaN"), ["sepal_length", "missing values"]),
        ({"inputs": [dict(zip(COLUMNS + ["colour"], row + [1.0])) for row in ROWS]}, ["colour", "unexpected"]),
    ]
    for body, words in expectations:
        response = post(iris_url, "application/json", body if isinstance(body, str) else json.dumps(body))
        assert response.status_code == 400, response.text[:500]
        [line] = response.json()["message"].splitlines()  # the qc line, first and alone (not MLflow's echo of the data)
        for word in words:
            assert word in line, line


def test_every_input_format_mlflow_documents_gives_the_same_answers(iris_url):
    """dataframe_split, dataframe_records, instances and inputs (records and columns, one row as a mapping), CSV."""
    frame = pd.DataFrame(ROWS, columns=COLUMNS)
    bodies = {
        "dataframe_split": json.dumps(split()),
        "dataframe_records": json.dumps(records()),
        "instances (records)": json.dumps({"instances": frame.to_dict(orient="records")}),
        "inputs (records)": json.dumps({"inputs": frame.to_dict(orient="records")}),
        "inputs (columns)": json.dumps({"inputs": frame.to_dict(orient="list")}),
        "instances (columns)": json.dumps({"instances": frame.to_dict(orient="list")}),
    }
    answers = {name: post(iris_url, "application/json", body) for name, body in bodies.items()}
    answers["CSV"] = post(iris_url, "text/csv", frame.to_csv(index=False))
    expected = answers["dataframe_split"].json()["predictions"]
    assert len(expected) == len(ROWS)
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.text[:500])
        assert response.json()["predictions"] == expected, name
    one = post(iris_url, "application/json", json.dumps({"inputs": dict(zip(COLUMNS, ROWS[0]))}))
    assert one.status_code == 200, one.text[:500]
    [row] = one.json()["predictions"]  # predicted alone: equal to the batch's first row up to rounding
    assert row == {
        key: pytest.approx(value, rel=1e-12) if isinstance(value, float) else value
        for key, value in expected[0].items()
    }
