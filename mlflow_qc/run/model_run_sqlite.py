"""The fast way of a run's writes, for a sqlite store whose schema is the one this module was written
against (``KNOWN_REVISIONS``, MLflow's alembic revision, checked once per process and store).

The same rows as the public calls (run/model_run_public.py) written in two transactions on
mlflow-qc's own sqlite3 connection (``synchronous=NORMAL`` on that connection only): the run, its
tags and params, the logged model and the run's output link at the start (RUNNING, as the QC pages
expect of a model in training); the metrics, latest metrics, the logged model's metrics and params,
its status and the run's end at once. A process killed in between leaves the run RUNNING (its
logged model PENDING), which a rerun discards and trains again. Fold and job runs are created the
same way (without a logged model) and closed in one transaction (``finished_in_one_go``).
"""

from __future__ import annotations

import functools
import math
import os
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlflow.entities import LoggedModelStatus, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_qc.run.model_run_public import Closing, ModelRun, folder_of, logged_model_status
from mlflow_qc.tracking.names import RUN_NAME
from mlflow_qc.tracking.store import database_file

_BUSY_TIMEOUT_MS = 20000  # how long a write waits for another writer's lock: MLflow's own sessions' wait
PUBLIC_WRITES_ENV = "MLFLOW_QC_PUBLIC_WRITES"
# MLflow's alembic revisions (heads of released versions) whose tables the fast way writes as they are: runs, tags,
# params, metrics, latest_metrics, logged_models, logged_model_params, logged_model_metrics, inputs. 3.17's head, and
# 3.18's (its three migrations add skill tables and change the issues and MCP tables, none of these).
KNOWN_REVISIONS = frozenset({"dc11669786a5", "f4a9b2c7d1e6"})


def fast_store(tracking_uri: str) -> str | None:
    """The sqlite file the fast way may write (``tracking_uri`` a sqlite store of a known schema), else None."""
    if os.environ.get(PUBLIC_WRITES_ENV, "0") == "1":
        return None
    path = database_file(tracking_uri)
    if path is None or not os.path.isfile(path):
        return None
    return path if _schema_revision(path) in KNOWN_REVISIONS else None


@functools.lru_cache(maxsize=16)
def _schema_revision(path: str) -> str | None:
    try:
        with _connection(path) as connection:
            found = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return None if found is None else found[0]


_connections = threading.local()


@contextmanager
def _connection(path: str) -> Iterator[sqlite3.Connection]:
    """mlflow-qc's own connection to ``path`` (one per thread): autocommit, ``synchronous=NORMAL``."""
    opened = _connections.__dict__.setdefault("by_path", {})
    key = (os.getpid(), path)  # never a connection inherited through fork
    connection = opened.get(key)
    if connection is None:
        connection = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
        connection.execute("PRAGMA synchronous = NORMAL")  # this connection only: a crash may lose its last commits
        opened[key] = connection
    yield connection


class _Rows:
    """Rows written in one transaction on mlflow-qc's sqlite3 connection."""

    def __init__(self, cursor):
        self.cursor = cursor

    def insert(self, table: str, rows: list[dict]) -> None:
        if rows:
            columns = tuple(rows[0])
            self.cursor.executemany(_insert_statement(table, columns), [tuple(row[c] for c in columns) for row in rows])

    def end_run(self, run_id: str, status: str, end_time: int) -> None:
        self.cursor.execute("UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?", (status, end_time, run_id))

    def finalize_model(self, model_id: str, status: LoggedModelStatus, when: int) -> None:
        self.cursor.execute(
            "UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? WHERE model_id = ?",
            (status.to_int(), when, model_id),
        )

    def lifecycle_stage(self, run_id: str) -> str | None:
        found = self.cursor.execute("SELECT lifecycle_stage FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
        return None if found is None else found[0]

    def keys_of(self, table: str, run_id: str) -> set[str]:
        return {key for (key,) in self.cursor.execute(f"SELECT key FROM {table} WHERE run_uuid = ?", (run_id,))}


@functools.lru_cache(maxsize=32)
def _insert_statement(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


@contextmanager
def _transaction(path: str) -> Iterator[_Rows]:
    """One write transaction: committed when the block ends, rolled back if it raises; a sqlite error
    comes out as MLflow's own session would raise it (TEMPORARILY_UNAVAILABLE)."""
    from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

    with _connection(path) as connection:
        cursor = connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            cursor.execute("BEGIN IMMEDIATE")
            yield _Rows(cursor)
            cursor.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if connection.in_transaction:
                cursor.execute("ROLLBACK")
            raise MlflowException(str(exc), error_code=TEMPORARILY_UNAVAILABLE) from exc
        except BaseException:
            if connection.in_transaction:
                cursor.execute("ROLLBACK")
            raise


def _key_value_rows(pairs, run_id: str) -> list[dict]:
    return [{"key": key, "value": value, "run_uuid": run_id} for key, value in pairs]


def _sanitized(value: float) -> tuple[bool, float]:
    """MLflow's stored form of a metric value: NaN as (True, 0), infinities as the largest floats."""
    if math.isnan(value):
        return True, 0.0
    if math.isinf(value):
        return False, math.copysign(sys.float_info.max, value)
    return False, value


def _metric_row(run_id: str, metric: Metric) -> dict:
    is_nan, value = _sanitized(float(metric.value))
    return {
        "key": metric.key,
        "value": value,
        "timestamp": metric.timestamp,
        "step": metric.step,
        "is_nan": is_nan,
        "run_uuid": run_id,
    }


def within_mlflow_limits(metrics=(), params=(), tags=()) -> bool:
    """What MLflow's own calls would accept without a word: valid unique keys, values within its limits."""
    from mlflow.utils.validation import (
        MAX_ENTITY_KEY_LENGTH,
        MAX_PARAM_VAL_LENGTH,
        MAX_TAG_VAL_LENGTH,
        validate_param_and_metric_name,
    )

    keys = [p.key for p in params]
    if len(set(keys)) != len(keys):
        return False
    for items, limit in ((params, MAX_PARAM_VAL_LENGTH), (tags, MAX_TAG_VAL_LENGTH)):
        if any(item.value is not None and len(str(item.value)) > limit for item in items):
            return False
    try:
        for item in (*metrics, *params, *tags):
            key = item.key
            if (
                not isinstance(key, str)
                or not key
                or len(key) > MAX_ENTITY_KEY_LENGTH
                or key.startswith("/")
                or ".." in key.split("/")
                or not validate_param_and_metric_name(key)
            ):
                return False
        for metric in metrics:
            float(metric.value), int(metric.timestamp), int(metric.step)
    except (MlflowException, TypeError, ValueError):
        return False
    return True


class SqlModelRun(ModelRun):
    """The fast way: the run, its tags and params (and its logged model, linked as its output) inserted in one
    transaction at the start; the rest written and both ended in one transaction at the end."""

    def __init__(
        self,
        client: MlflowClient,
        path: str,
        experiment_id: str,
        tags: dict[str, str],
        params: list[Param] = (),
        model_name: str | None = None,
    ):
        from mlflow.utils.uri import append_to_uri_path

        self.client, self.path = client, path
        self.run_id = uuid.uuid4().hex
        location = _artifact_location(client, str(experiment_id))
        self.artifact_uri = append_to_uri_path(location, self.run_id, "artifacts")
        tags = dict(tags)
        name = tags.setdefault(RUN_NAME, f"model {self.run_id[:8]}")
        params = list(params)
        now = int(time.time() * 1000)
        self.model_id = self.model_artifact_uri = None
        self.experiment_id = int(experiment_id)
        with _transaction(path) as rows:
            rows.insert(
                "runs",
                [
                    {
                        "run_uuid": self.run_id,
                        "name": name,
                        "source_type": "UNKNOWN",
                        "source_name": "",
                        "entry_point_name": "",
                        "user_id": tags.get("mlflow.user", "unknown"),
                        "status": "RUNNING",
                        "start_time": now,
                        "end_time": None,
                        "deleted_time": None,
                        "source_version": "",
                        "lifecycle_stage": "active",
                        "artifact_uri": self.artifact_uri,
                        "experiment_id": int(experiment_id),
                    }
                ],
            )
            rows.insert("tags", _key_value_rows(tags.items(), self.run_id))
            if params:
                rows.insert("params", _key_value_rows(((p.key, p.value) for p in params), self.run_id))
            if model_name is not None:
                self._insert_model(rows, location, int(experiment_id), model_name, params, now)
        self.tag_keys = set(tags)

    def _insert_model(
        self, rows: _Rows, location: str, experiment_id: int, name: str, params: list[Param], now: int
    ) -> None:
        from mlflow.utils.uri import append_to_uri_path

        self.model_id = f"m-{uuid.uuid4().hex}"  # MLflow's own form of a logged model's id and artifact location
        self.model_artifact_uri = append_to_uri_path(location, "models", self.model_id, "artifacts")
        rows.insert(
            "logged_models",
            [
                {
                    "model_id": self.model_id,
                    "experiment_id": experiment_id,
                    "name": name,
                    "artifact_location": self.model_artifact_uri,
                    "creation_timestamp_ms": now,
                    "last_updated_timestamp_ms": now,
                    "status": LoggedModelStatus.PENDING.to_int(),
                    "lifecycle_stage": "active",
                    "model_type": None,
                    "source_run_id": self.run_id,
                    "status_message": None,
                }
            ],
        )
        self._insert_model_params(rows, params)
        rows.insert(
            "inputs",
            [
                {
                    "input_uuid": uuid.uuid4().hex,
                    "source_type": "RUN_OUTPUT",
                    "source_id": self.run_id,
                    "destination_type": "MODEL_OUTPUT",
                    "destination_id": self.model_id,
                    "step": 0,
                }
            ],
        )

    def _insert_model_params(self, rows: _Rows, params: list[Param]) -> None:
        rows.insert(
            "logged_model_params",
            [
                {
                    "model_id": self.model_id,
                    "experiment_id": self.experiment_id,
                    "param_key": p.key,
                    "param_value": str(p.value),
                }
                for p in params
            ],
        )

    def log_artifacts(self, folder: str) -> None:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        get_artifact_repository(self.artifact_uri).log_artifacts(folder)

    @contextmanager
    def artifact_folder(self) -> Iterator[Path]:
        with folder_of(self.artifact_uri, self.log_artifacts) as folder:
            yield folder

    def end(
        self,
        status: str,
        metrics: list[Metric] = (),
        params: list[Param] = (),
        tags: list[RunTag] = (),
        model_metrics: list[Metric] = (),
    ) -> None:
        metrics, params, tags, model_metrics = list(metrics), list(params), list(tags), list(model_metrics)
        if not within_mlflow_limits(metrics + model_metrics, params, tags) or any(
            tag.key in self.tag_keys for tag in tags
        ):
            return super().end(status, metrics, params, tags, model_metrics)  # MLflow's own checks and updates
        rows, latest = {}, {}
        for metric in metrics + model_metrics:
            row = _metric_row(self.run_id, metric)
            rows[(row["key"], row["timestamp"], row["step"], row["value"], row["is_nan"])] = (
                row  # MLflow drops exact repeats
            )
            best = latest.get(metric.key)
            if best is None or (row["step"], row["timestamp"], row["value"]) > (
                best["step"],
                best["timestamp"],
                best["value"],
            ):
                latest[metric.key] = row
        now = int(time.time() * 1000)
        with _transaction(self.path) as writer:
            _write_rows(writer, self.run_id, status, params, list(rows.values()), list(latest.values()), tags, now)
            if self.model_id is not None:
                writer.insert(
                    "logged_model_metrics",
                    [
                        {
                            "model_id": self.model_id,
                            "metric_name": m.key,
                            "metric_timestamp_ms": m.timestamp,
                            "metric_step": m.step,
                            "metric_value": _sanitized(float(m.value))[1],
                            "experiment_id": self.experiment_id,
                            "run_id": self.run_id,
                            "dataset_uuid": None,
                            "dataset_name": None,
                            "dataset_digest": None,
                        }
                        for m in model_metrics
                    ],
                )
                self._insert_model_params(writer, [p for p in params if p.key not in self._model_param_keys(writer)])
                writer.finalize_model(self.model_id, logged_model_status(status), now)

    def _model_param_keys(self, rows: _Rows) -> set[str]:
        return {
            key
            for (key,) in rows.cursor.execute(
                "SELECT param_key FROM logged_model_params WHERE model_id = ?", (self.model_id,)
            )
        }


def _write_rows(
    rows: _Rows,
    run_id: str,
    status: str,
    params: list[Param],
    metric_rows: list[dict],
    latest_rows: list[dict],
    tags: list[RunTag] = (),
    now: int | None = None,
) -> None:
    """Insert a run's tags, params, metrics and latest metrics and end it, in ``rows``' transaction."""
    if tags:
        rows.insert("tags", _key_value_rows(((t.key, t.value) for t in tags), run_id))
    if params:
        rows.insert("params", _key_value_rows(((p.key, p.value) for p in params), run_id))
    if metric_rows:
        rows.insert("metrics", metric_rows)
        rows.insert("latest_metrics", latest_rows)
    rows.end_run(run_id, status, now or int(time.time() * 1000))


_locations: dict[tuple[str, str], str] = {}


def _artifact_location(client: MlflowClient, experiment_id: str) -> str:
    """The experiment's artifact location, read once per process, store file and experiment."""
    key = (database_file(client.tracking_uri) or client.tracking_uri, str(experiment_id))
    if key not in _locations:
        experiment = client.get_experiment(str(experiment_id))
        if experiment.lifecycle_stage != "active":
            raise MlflowException(f"The experiment {experiment_id} must be in the 'active' state.")
        _locations[key] = experiment.artifact_location
    return _locations[key]


def finished_in_one_go(path: str, closings: list[Closing]) -> list[Closing]:
    """Writes the closings it can in one transaction; returns the others (for the public calls)."""
    checked, left = [], []
    for closing in closings:
        metrics, params = list(closing.metrics), list(closing.params)
        if not within_mlflow_limits(metrics, params) or len({m.key for m in metrics}) != len(metrics):
            left.append(closing)  # MLflow's own checks, or steps of one key: MLflow's own rules for the latest value
        else:
            checked.append(closing)
    if not checked:
        return left
    with _transaction(path) as writer:
        for closing in checked:
            if _may_write_at_once(writer, closing):
                rows = [
                    _metric_row(closing.run_id, metric) for metric in closing.metrics
                ]  # one value per key: each is its latest
                _write_rows(writer, closing.run_id, closing.status, closing.params, rows, rows)
            else:
                left.append(closing)
    return left


def _may_write_at_once(rows: _Rows, closing: Closing) -> bool:
    """The run is active and has none of the closing's metrics and params yet."""
    run_id = closing.run_id
    if rows.lifecycle_stage(run_id) != "active":
        return False  # missing or deleted: the public calls raise MLflow's error
    metrics, params = {m.key for m in closing.metrics}, {p.key for p in closing.params}
    return not (metrics & rows.keys_of("latest_metrics", run_id) or params & rows.keys_of("params", run_id))
