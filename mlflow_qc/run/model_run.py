"""A run's writes to the store: as few statements as the store allows.

On MLflow's SQL store a model run takes two transactions: the run and its tags at the start
(RUNNING, as the QC pages expect of a model in training), then its params, metrics, latest
metrics, last tags and its end at once (instead of create_run + log_batch + set_terminated,
each several transactions). A process killed in between leaves the run RUNNING, which a rerun
discards and trains again. A model that fails or is interrupted is ended the ordinary way (its
traceback logged, FAILED or KILLED). Any other store (a tracking server) gets the ordinary
calls: create at the start, one batch, end. Fold and job runs are created the same way (their
params with them) and closed in one transaction (``finish_runs``; a job's fold runs all in one).
On sqlite the statements go straight to the sqlite3 cursor of a pooled connection of the store's
engine; on the other SQL databases through SQLAlchemy.
"""
from __future__ import annotations

import dataclasses
import functools
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_qc.run.session import end_run_on_error
from mlflow_qc.tracking.artifact_location import local_artifact_folder
from mlflow_qc.tracking.names import RUN_NAME

BATCH = 1000  # MLflow's per-call metric limit
_BUSY_TIMEOUT_MS = 20000  # how long a write waits for another writer's lock: MLflow's own sessions' wait


class ModelRun:
    """The ordinary calls: the run exists from the start (RUNNING), is logged in batches, then ended."""

    def __init__(self, client: MlflowClient, experiment_id: str, tags: dict[str, str], params: list[Param] = ()):
        self.client = client
        info = client.create_run(experiment_id, tags=tags).info
        self.run_id, self.artifact_uri = info.run_id, info.artifact_uri
        if params:
            client.log_batch(self.run_id, params=list(params))

    def log_artifacts(self, folder: str) -> None:
        self.client.log_artifacts(self.run_id, folder)

    @contextmanager
    def artifact_folder(self) -> Iterator[Path]:
        """A folder whose files become the run's artifacts: the run's own artifact folder when it is
        local (nothing copied, as MLflow's local repository would), else a temporary one uploaded at the end."""
        folder = local_artifact_folder(self.artifact_uri)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            yield folder
            return
        with tempfile.TemporaryDirectory() as tmp:
            yield Path(tmp)
            self.log_artifacts(tmp)

    def end(self, status: str, metrics: list[Metric] = (), params: list[Param] = (), tags: list[RunTag] = ()) -> None:
        _log_and_end(self.client, self.run_id, status, list(metrics), list(params), list(tags))

    def fail(self, exc: BaseException) -> None:
        end_run_on_error(self.client, self.run_id, exc)


def _log_and_end(client: MlflowClient, run_id: str, status: str, metrics: list[Metric], params: list[Param],
                 tags: list[RunTag] = ()) -> None:
    """The ordinary calls: ``log_batch`` (metrics in batches of BATCH), then ``set_terminated``."""
    if metrics or params or tags:
        client.log_batch(run_id, metrics=metrics[:BATCH], params=params, tags=list(tags))
    for start in range(BATCH, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH])
    client.set_terminated(run_id, status)


def _key_value_rows(pairs, run_id: str) -> list[dict]:
    """Rows of a run's tags or params table."""
    return [{"key": key, "value": value, "run_uuid": run_id} for key, value in pairs]


def _metric_row(store, run_id: str, metric: Metric) -> dict:
    is_nan, value = store.sanitize_metric_value(float(metric.value))
    return {"key": metric.key, "value": value, "timestamp": metric.timestamp, "step": metric.step, "is_nan": is_nan, "run_uuid": run_id}


def _write_rows(rows: _Rows | _SqliteRows, run_id: str, status: str, params: list[Param], metric_rows: list[dict],
                latest_rows: list[dict], tags: list[RunTag] = ()) -> None:
    """Insert a run's tags, params, metrics and latest metrics and end it, in ``rows``' transaction."""
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlTag

    if tags:
        rows.insert(SqlTag.__table__, _key_value_rows(((t.key, t.value) for t in tags), run_id))
    if params:
        rows.insert(SqlParam.__table__, _key_value_rows(((p.key, p.value) for p in params), run_id))
    if metric_rows:
        rows.insert(SqlMetric.__table__, metric_rows)
        rows.insert(SqlLatestMetric.__table__, latest_rows)
    rows.end_run(run_id, status, int(time.time() * 1000))


class _Rows:
    """Rows written in one transaction through SQLAlchemy (any of MLflow's SQL databases)."""

    def __init__(self, session):
        self.session = session

    def insert(self, table, rows: list[dict]) -> None:
        from sqlalchemy import insert

        self.session.execute(insert(table), rows)

    def end_run(self, run_id: str, status: str, end_time: int) -> None:
        from mlflow.store.tracking.dbmodels.models import SqlRun
        from sqlalchemy import update

        runs = SqlRun.__table__
        self.session.execute(update(runs).where(runs.c.run_uuid == run_id).values(status=status, end_time=end_time))

    def lifecycle_stage(self, run_id: str) -> str | None:
        from mlflow.store.tracking.dbmodels.models import SqlRun
        from sqlalchemy import select

        return self.session.execute(select(SqlRun.lifecycle_stage).where(SqlRun.run_uuid == run_id)).scalar_one_or_none()

    def keys_of(self, table, run_id: str) -> set[str]:
        from sqlalchemy import select

        return set(self.session.execute(select(table.c.key).where(table.c.run_uuid == run_id)).scalars())


class _SqliteRows:
    """The same statements as ``_Rows`` on the sqlite3 cursor of one of the store's pooled connections: SQLAlchemy
    compiles and wraps every statement and MLflow's session sets three pragmas, about two thirds of a
    model run's writes (``bench/tracking_parts.py``)."""

    def __init__(self, cursor):
        self.cursor = cursor

    def insert(self, table, rows: list[dict]) -> None:
        if rows:
            columns = tuple(rows[0])
            self.cursor.executemany(_insert_statement(table.name, columns), [tuple(row[c] for c in columns) for row in rows])

    def end_run(self, run_id: str, status: str, end_time: int) -> None:
        from mlflow.store.tracking.dbmodels.models import SqlRun

        self.cursor.execute(f"UPDATE {SqlRun.__tablename__} SET status = ?, end_time = ? WHERE run_uuid = ?",
                            (status, end_time, run_id))

    def lifecycle_stage(self, run_id: str) -> str | None:
        from mlflow.store.tracking.dbmodels.models import SqlRun

        found = self.cursor.execute(f"SELECT lifecycle_stage FROM {SqlRun.__tablename__} WHERE run_uuid = ?", (run_id,)).fetchone()
        return None if found is None else found[0]

    def keys_of(self, table, run_id: str) -> set[str]:
        return {key for (key,) in self.cursor.execute(f"SELECT key FROM {table.name} WHERE run_uuid = ?", (run_id,))}


@functools.lru_cache(maxsize=32)
def _insert_statement(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


@contextmanager
def _session_transaction(store) -> Iterator[_Rows]:
    """One write transaction in one of MLflow's sessions (any SQL database)."""
    with store.ManagedSessionMaker(read_only=False) as session:
        yield _Rows(session)


@contextmanager
def _transaction(store) -> Iterator[_Rows | _SqliteRows]:
    """One write transaction on ``store``: committed when the block ends, rolled back if it raises;
    a sqlite error comes out as MLflow's session would raise it (TEMPORARILY_UNAVAILABLE)."""
    if store.db_type != "sqlite":
        with _session_transaction(store) as rows:
            yield rows
        return
    import sqlite3

    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

    connection = store.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        yield _SqliteRows(cursor)
        connection.commit()
    except sqlite3.OperationalError as exc:
        connection.rollback()
        raise MlflowException(str(exc), error_code=TEMPORARILY_UNAVAILABLE) from exc
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.close()  # back to the pool


class SqlModelRun(ModelRun):
    """SQL store: the run and its tags (and params given then) inserted in one transaction at the start
    (RUNNING, so the QC pages see what trains now), the rest written and the run ended in one
    transaction at the end."""

    def __init__(self, client: MlflowClient, store, experiment_id: str, tags: dict[str, str], params: list[Param] = ()):
        from mlflow.store.tracking.dbmodels.models import SqlParam, SqlRun, SqlTag
        from mlflow.utils.validation import _validate_batch_log_data, _validate_param_keys_unique
        from mlflow.utils.uri import append_to_uri_path

        self.client, self.store = client, store
        self.run_id = uuid.uuid4().hex
        self.artifact_uri = append_to_uri_path(_artifact_location(store, experiment_id), self.run_id, "artifacts")
        tags = dict(tags)
        name = tags.setdefault(RUN_NAME, f"model {self.run_id[:8]}")
        _, params, _ = _validate_batch_log_data([], list(params), [])
        _validate_param_keys_unique(params)
        with _transaction(store) as rows:
            rows.insert(SqlRun.__table__, [{
                "run_uuid": self.run_id, "name": name, "source_type": "UNKNOWN", "source_name": "", "entry_point_name": "",
                "user_id": tags.get("mlflow.user", "unknown"), "status": "RUNNING", "start_time": int(time.time() * 1000),
                "end_time": None, "deleted_time": None, "source_version": "", "lifecycle_stage": "active",
                "artifact_uri": self.artifact_uri, "experiment_id": int(experiment_id),
            }])
            rows.insert(SqlTag.__table__, _key_value_rows(tags.items(), self.run_id))
            if params:
                rows.insert(SqlParam.__table__, _key_value_rows(((p.key, p.value) for p in params), self.run_id))
        self.tag_keys = set(tags)

    def log_artifacts(self, folder: str) -> None:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        get_artifact_repository(self.artifact_uri).log_artifacts(folder)

    def end(self, status: str, metrics: list[Metric] = (), params: list[Param] = (), tags: list[RunTag] = ()) -> None:
        from mlflow.utils.validation import _validate_batch_log_data, _validate_param_keys_unique

        metrics, params, tags = _validate_batch_log_data(list(metrics), list(params), list(tags))
        _validate_param_keys_unique(params)
        if any(tag.key in self.tag_keys for tag in tags):
            return super().end(status, metrics, params, tags)  # a tag set twice: MLflow's own update
        rows, latest = {}, {}
        for metric in metrics:
            row = _metric_row(self.store, self.run_id, metric)
            rows[(row["key"], row["timestamp"], row["step"], row["value"], row["is_nan"])] = row  # MLflow drops exact repeats
            best = latest.get(metric.key)
            if best is None or (row["step"], row["timestamp"], row["value"]) > (best["step"], best["timestamp"], best["value"]):
                latest[metric.key] = row
        with _transaction(self.store) as writer:
            _write_rows(writer, self.run_id, status, params, list(rows.values()), list(latest.values()), tags)


def open_run(client: MlflowClient, experiment_id: str, tags: dict[str, str], params: list[Param] = ()) -> ModelRun:
    """A new RUNNING run with its tags (``mlflow.runName`` its name) and ``params``."""
    store = _sql_store(client)
    return ModelRun(client, experiment_id, tags, params) if store is None else SqlModelRun(client, store, experiment_id, tags, params)


def _sql_store(client: MlflowClient):
    """MLflow's own SQL store behind ``client`` (not a subclass: a workspace-aware store adds rules), else None."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = client._tracking_client.store
    except Exception:
        return None
    return store if type(store) is SqlAlchemyStore else None


@functools.lru_cache(maxsize=16)
def _experiment_location(store, experiment_id: str) -> str:
    experiment = store.get_experiment(experiment_id)
    if experiment.lifecycle_stage != "active":
        from mlflow.exceptions import MlflowException

        raise MlflowException(f"The experiment {experiment_id} must be in the 'active' state.")
    return experiment.artifact_location


def _artifact_location(store, experiment_id: str) -> str:
    return _experiment_location(store, str(experiment_id))


@dataclasses.dataclass
class Closing:
    """What ends one fold or job run: its status, aggregates and params."""

    run_id: str
    status: str
    metrics: list[Metric]
    params: list[Param] = dataclasses.field(default_factory=list)


def finish_runs(client: MlflowClient, closings: list[Closing]) -> None:
    """``log_batch`` then ``set_terminated`` of existing runs (fold or job runs closing with their
    aggregates); on a SQL store in one transaction for all that have none of these keys yet
    (an adopted run closing again takes the ordinary calls, which update what is there)."""
    store = _sql_store(client)
    left = closings if store is None else _finished_in_one_go(store, closings)
    for closing in left:
        _log_and_end(client, closing.run_id, closing.status, list(closing.metrics), list(closing.params))


def _finished_in_one_go(store, closings: list[Closing]) -> list[Closing]:
    """Writes the closings it can in one transaction; returns the others (for the ordinary calls)."""
    from mlflow.utils.validation import _validate_batch_log_data, _validate_param_keys_unique

    checked, left = [], []
    for closing in closings:
        metrics, params, _ = _validate_batch_log_data(list(closing.metrics), list(closing.params), [])
        _validate_param_keys_unique(params)
        if len({m.key for m in metrics}) != len(metrics):
            left.append(closing)  # steps of one key: MLflow's own rules for the latest value
        else:
            checked.append(dataclasses.replace(closing, metrics=metrics, params=params))
    if not checked:
        return left
    with _transaction(store) as writer:
        for closing in checked:
            if _may_write_at_once(writer, closing):
                rows = [_metric_row(store, closing.run_id, metric) for metric in closing.metrics]  # one value per key: each is its latest
                _write_rows(writer, closing.run_id, closing.status, closing.params, rows, rows)
            else:
                left.append(closing)
    return left


def _may_write_at_once(rows: _Rows | _SqliteRows, closing: Closing) -> bool:
    """The run is active and has none of the closing's metrics and params yet."""
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlParam

    run_id = closing.run_id
    if rows.lifecycle_stage(run_id) != "active":
        return False  # missing or deleted: the ordinary calls raise MLflow's error
    metrics, params = {m.key for m in closing.metrics}, {p.key for p in closing.params}
    return not (metrics & rows.keys_of(SqlLatestMetric.__table__, run_id) or params & rows.keys_of(SqlParam.__table__, run_id))
