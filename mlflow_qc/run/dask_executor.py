"""Model tasks on a Dask cluster (``trainer.backend: dask``; README: "Distributed training").

``trainer.address`` names a running scheduler; without it a ``LocalCluster`` of ``n_jobs``
worker processes (one thread each, loopback only, no dashboard) starts and stops with the
command. Workers need nothing of this machine but the cluster and the tracking server:

- the prepared arrays travel through the cluster: the cache entry's shared files and the
  model module are sent once, each context once, however many models use them, as tasks
  that hand them over (not ``scatter``: the scheduler can send a task again when the worker
  holding its result is lost; scattered data would be gone); a worker writes them into its
  own local directory the first time a model needs them;
- workers write their model runs over HTTP, so a scheduler given by address needs an
  ``http(s)://`` tracking server, refused before any run exists otherwise. A local cluster
  may use a sqlite store as ``local`` with ``n_jobs`` does (one machine, write-ahead log).

A lost worker's models run once more (a local cluster's scheduler allows one failure; a
scheduler given by address applies its own ``distributed.scheduler.allowed-failures``) and
are then recorded FAILED with the reason. Runs that lost attempts left behind are ended
and discarded once the models are back, so each model keeps exactly one run.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import queue
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mlflow.tracking import MlflowClient

from mlflow_qc.cache import EntryPart, pack, unpack
from mlflow_qc.errors import QCError
from mlflow_qc.run.plan import ModelRecord, ModelTask
from mlflow_qc.run.tree import discard_run, model_identity, model_tags
from mlflow_qc.run.worker import TaskEnvironment, train_model
from mlflow_qc.tracking.names import ERROR_ARTIFACT, FAILED, FINISHED, MODEL, PARENT
from mlflow_qc.tracking.queries import runs_of_model, tree_runs

LOCAL_CLUSTER_CONFIG = {
    "distributed.scheduler.allowed-failures": 1
}  # a task whose worker is lost runs once more, then errs
SERVER_SCHEMES = ("http", "https")
GUIDE = "README: Distributed training"


def require_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise QCError(
            "trainer.backend",
            "dask needs the packages dask and distributed; expected them installed: pip install 'mlflow-qc[dask]'",
        ) from None


def is_loopback(host: str | None) -> bool:
    if not host or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_tracking_store(tracking_uri: str, address: str | None) -> None:
    """Workers of a scheduler given by address may be anywhere: they need a tracking server."""
    if address is not None and urlparse(tracking_uri).scheme not in SERVER_SCHEMES:
        raise QCError(
            "trainer.address",
            f"the tracking store {tracking_uri} is not a server that Dask workers can "
            "share; expected an http(s) tracking URI: start `mlflow server` and set MLFLOW_TRACKING_URI "
            f"to its address ({GUIDE})",
        )


def check_workers_reach(workers: list[str], tracking_uri: str) -> None:
    """A tracking server on loopback is out of reach of workers on other machines."""
    far = [address for address in workers if not is_loopback(urlparse(address).hostname)]
    if far and is_loopback(urlparse(tracking_uri).hostname):
        raise QCError(
            "trainer.address",
            f"the tracking server {tracking_uri} listens on loopback, which the Dask "
            f"worker {far[0]} cannot reach; expected its network address in MLFLOW_TRACKING_URI "
            f"(mlflow server --host 0.0.0.0; {GUIDE})",
        )


@contextmanager
def dask_executor(address: str | None, n_jobs: int, tracking_uri: str) -> Iterator[DaskExecutor]:
    """A client of the scheduler at ``address``, or of a local cluster that lives as long as the block."""
    require_distributed()
    check_tracking_store(tracking_uri, address)
    import dask
    from distributed import Client, LocalCluster

    cluster = None
    if address is None:
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            cluster = LocalCluster(
                n_workers=os.cpu_count() if n_jobs == -1 else n_jobs,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
        client = Client(cluster)
    else:
        timeout = dask.config.get("distributed.comm.timeouts.connect")  # 30s unless configured
        try:
            client = Client(address, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise QCError(
                "trainer.address",
                f"no Dask scheduler answered at {address} within {timeout} "
                f"({type(exc).__name__}); expected a running scheduler ({GUIDE})",
            ) from None
    try:
        executor = DaskExecutor(client)
        check_workers_reach(executor.workers(), tracking_uri)
        yield executor
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass(frozen=True)
class Shipment:
    """What every model of an entry needs on a worker: the entry's shared files and the model module."""

    shared: EntryPart
    module: tuple[str, bytes] | None  # (file name, source) of a keras/pytorch recipe's module


class DaskExecutor:
    def __init__(self, client):
        self.client = client
        self._shipped: dict[tuple[str, str | None], object] = {}  # (entry root, context) -> Future

    def workers(self) -> list[str]:
        return list(self.client.nthreads())

    @property
    def slots(self) -> int:
        """Models the cluster trains at once (at least 1): TPE proposes this many combinations at a time."""
        return max(1, sum(self.client.nthreads().values()))

    def _ship(self, env: TaskEnvironment, context: str | None):
        """A future of the entry's shared part (context None) or of one context, sent once per command."""
        import dask

        key = (env.entry_root, context)
        if key not in self._shipped:
            if context is None:
                module = env.architecture.module
                code = (os.path.basename(module), Path(module).read_bytes()) if module else None
                payload = Shipment(pack(env.entry_root), code)
            else:
                payload = pack(env.entry_root, context)
            with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1TiB"}):  # large on purpose
                self._shipped[key] = self.client.submit(handed_over, payload, pure=False)
        return self._shipped[key]

    def execute(self, tasks: list[ModelTask], env: TaskEnvironment) -> Iterator[ModelRecord]:
        """Train every task on the cluster; yields their records in completion order.

        No more tasks are out than the cluster has threads: a worker holds only the model it
        trains, so losing it costs only that model an attempt (the scheduler counts an attempt
        for every task assigned to a lost worker, started or not). A finished task is replaced
        from the callback thread, so workers stay busy while the caller closes a job.
        """
        if not tasks:
            return
        waiting, out, task_of = deque(tasks), set(), {}
        finished: queue.Queue = queue.Queue()
        lock = threading.RLock()  # a callback of an already finished future runs inside add_done_callback

        def refill():
            with lock:
                limit = self.slots if waiting else 0
                while waiting and len(out) < limit:
                    task = waiting.popleft()
                    future = self.client.submit(
                        train_on_worker,
                        task,
                        env,
                        self._ship(env, None),
                        self._ship(env, task.data_context),
                        pure=False,
                    )
                    out.add(future)
                    task_of[future] = task
                    future.add_done_callback(back)

        def back(future):
            with lock:
                out.discard(future)
            finished.put(future)
            refill()

        refill()
        kept = {}
        try:
            for _ in tasks:
                future = finished.get()
                task = task_of.pop(future)
                try:
                    record = future.result()
                except Exception as exc:  # the cluster could not run it: its workers were lost, it was cancelled
                    record = lost_model(task, env, exc)
                future.release()
                kept[task.identity] = (record.run_id, task.parent_run_id)
                yield record
        finally:
            with lock:
                waiting.clear()
                abandoned = list(out)
            if abandoned:
                self.client.cancel(abandoned)
        discard_strays(env, kept)


def lost_model(task: ModelTask, env: TaskEnvironment, exc: Exception) -> ModelRecord:
    """The record of a model the cluster could not bring back, from the runs its attempts left."""
    client = MlflowClient(env.tracking_uri)
    attempts = runs_of_model(client, env.experiment_id, env.resume_key, task.parent_run_id, task.repeat_index)
    done = next((run for run in attempts if run.info.status == FINISHED), None)
    if done is not None:  # it finished before its worker was lost
        record = ModelRecord(task, done.info.run_id, FINISHED, dict(done.data.metrics))
    else:
        error = (
            f"the Dask cluster could not train {task.name}: {type(exc).__name__}: {exc}\n"
            f"(a model whose worker is lost is tried once more, then recorded FAILED; {GUIDE})"
        )
        run_id = (
            attempts[0].info.run_id
            if attempts
            else client.create_run(env.experiment_id, tags=model_tags(env.resume_key, task)).info.run_id
        )
        client.log_text(run_id, error, ERROR_ARTIFACT)
        client.set_terminated(run_id, FAILED)
        record = ModelRecord(task, run_id, FAILED, {}, error=error)
    for run in attempts:
        if run.info.run_id != record.run_id:
            discard_run(client, run)
    return record


def discard_strays(env: TaskEnvironment, kept: dict[tuple, tuple[str, str]]) -> None:
    """Runs of these models other than the one each kept (identity -> (run id, parent run id)): attempts
    whose worker was lost, a result computed twice because its worker died before handing it over.
    Only runs under the same parent: another tree's model of the same identity is none of these."""
    client = MlflowClient(env.tracking_uri)
    for run in tree_runs(client, env.experiment_id, env.resume_key, MODEL):
        run_id, parent = kept.get(model_identity(run), (None, None))
        if run_id is not None and run.info.run_id != run_id and run.data.tags.get(PARENT) == parent:
            discard_run(client, run)


# --- on the worker -----------------------------------------------------------------------

_unpacking = threading.Lock()  # a worker with several threads writes each part once


def handed_over(payload):
    return payload


def train_on_worker(task: ModelTask, env: TaskEnvironment, shipment: Shipment, part: EntryPart) -> ModelRecord:
    os.environ.pop("MLFLOW_RUN_ID", None)  # the client's `mlflow run` run: never a parent here
    return train_model(task, local_environment(env, shipment, part), wanted=still_wanted)


def local_environment(env: TaskEnvironment, shipment: Shipment, part: EntryPart) -> TaskEnvironment:
    """``env`` pointing at this worker's copy of the entry (and of the model module)."""
    from distributed import get_worker

    root = Path(get_worker().local_directory) / "qc-prepared" / shipment.shared.key
    architecture = env.architecture
    with _unpacking:
        unpack(shipment.shared, root)
        unpack(part, root)
        if shipment.module is not None:
            name, code = shipment.module
            path = root / "module" / name
            if not path.is_file():
                path.parent.mkdir(exist_ok=True)
                path.with_suffix(".partial").write_bytes(code)
                os.replace(path.with_suffix(".partial"), path)
            architecture = architecture.model_copy(update={"module": str(path)})
    return dataclasses.replace(env, entry_root=str(root), architecture=architecture)


def still_wanted() -> bool:
    """Whether the scheduler still has the task this thread runs processing on this worker: not
    cancelled, not released because the client that asked for it is gone, worker not closing.
    Public API only: ``Client.processing`` of the worker's own client (one scheduler round trip)."""
    from distributed import get_client, get_worker
    from distributed.core import Status

    worker = get_worker()
    if worker.status != Status.running:
        return False
    try:
        processing = get_client().processing(workers=[worker.address])
    except (OSError, TimeoutError, ValueError):  # the scheduler does not answer: nobody can take the result
        return False
    return worker.get_current_task() in processing.get(worker.address, ())
