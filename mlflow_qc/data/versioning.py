"""Dataset versions with DVC (README: "Data versioning"): record, add/push, refuse, restore.

Everything DVC decides goes through DVC's own API (``dvc_api.DvcRepo``): its config at every level
(system, global, repository, local), its ``.dvcignore`` rules, its hashing, ``add``, ``push`` and
``pull``. Data that git versions is git's: hashed as git holds it (every file) and restored from the
commit. Without a DVC repository (or with ``data.version: off``) only the md5 is recorded.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from mlflow_qc.data.context import find_dvc_root, git, git_state, object_paths, path_md5, stored_object
from mlflow_qc.data.dvc_api import DvcRepo, init_bare_repo
from mlflow_qc.errors import QCError

if TYPE_CHECKING:
    from mlflow_qc.data.dataset import Dataset
    from mlflow_qc.recipe import DatasetSpec


log = logging.getLogger(__name__)


MODES = ("auto", "require", "off")


@dataclass(frozen=True)
class DatasetVersion:
    """What a run used of one dataset, enough to bring its exact bytes back.

    ``git_revision`` is the HEAD of the repository holding the data; ``git_dirty``
    says that the file recording the version (the ``.dvc`` file, or the data itself
    when git versions it) differs from that commit, so only ``md5`` pins the bytes.
    A folder's ``md5`` is DVC's ``<md5>.dir`` of its manifest; ``shape`` is an N-D dataset's.
    """

    path: str | None
    md5: str
    dvc_root: str | None = None
    dvc_path: str | None = None
    git_revision: str | None = None
    remote_url: str | None = None
    tracked: bool = False
    rows: int | None = None
    columns: int | None = None
    git_dirty: bool = False
    shape: list[int] | None = None

    @property
    def is_folder(self) -> bool:
        return self.md5.endswith(".dir")

    @property
    def unrestorable(self) -> str | None:
        """Why ``mlflow-qc data get`` cannot promise these bytes back; None when it can."""
        if self.path is None:
            return "an in-memory DataFrame has no file to restore"
        if self.dvc_root is None:
            return "only its md5 is recorded (data.version: off, or no DVC repository above it)"
        if not self.tracked and self.git_revision is None:
            return "git versions it, but the repository has no commit yet"
        if not self.tracked and self.git_dirty:
            return "it has changes git has not committed (commit them, or track it with `mlflow-qc data add`)"
        return None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DatasetVersion:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in d.items() if key in known})


def frame_md5(frame) -> str:
    """A content hash of a DataFrame (values, index, column names and dtypes) or an array (values, shape, dtype)."""
    import numpy as np
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        array = np.ascontiguousarray(frame)
        digest = hashlib.md5(array.tobytes())
        digest.update(repr((array.shape, str(array.dtype))).encode())
        return digest.hexdigest()
    digest = hashlib.md5(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    digest.update(repr([(str(name), str(dtype)) for name, dtype in frame.dtypes.items()]).encode())
    return digest.hexdigest()


def version_dataset(spec: DatasetSpec, mode: str, where: str, *, rows=None, columns=None, shape=None) -> DatasetVersion:
    """Version one dataset under ``data.version`` = ``mode``; QCErrors name ``{where}.path``."""
    if mode not in MODES:
        raise QCError("data.version", f"got {mode!r}; expected one of {', '.join(MODES)}")
    if spec.path is None:
        if mode == "require":
            raise QCError(
                where,
                "an in-memory DataFrame cannot be versioned by DVC; "
                "save it in a DVC repository or set data.version: auto",
            )
        return DatasetVersion(path=None, md5=frame_md5(spec.frame), rows=rows, columns=columns, shape=shape)
    return version_path(spec.path, mode, f"{where}.path", rows=rows, columns=columns, shape=shape)


def version_dataset_files(dataset: Dataset, mode: str) -> list[DatasetVersion]:
    """Every version a loaded dataset stands on: its file or folder, and an image manifest's images
    folder too (the folder below the manifest's that holds them all)."""
    where = dataset.where
    shape = list(dataset.array.shape) if dataset.array is not None else None
    version = version_dataset(
        dataset.spec, mode, where, rows=dataset.n_samples, columns=len(dataset.columns) or None, shape=shape
    )
    if dataset.spec.image_column is None or dataset.spec.path is None:
        return [version]
    folder = os.path.commonpath([os.path.dirname(f) for f in dataset.files])
    base = os.path.dirname(dataset.spec.path)
    if mode != "off" and (folder == base or not folder.startswith(base + os.sep)):
        raise QCError(
            f"{where}.image_column",
            f"the images are not all in one folder below {base}; expected them in a "
            "folder beside the manifest (versioned as one DVC directory), or data.version: off",
        )
    return [version, version_path(folder, mode, f"{where}.image_column", rows=dataset.n_samples, shape=shape)]


def add_path(path: str) -> DatasetVersion:
    """``mlflow-qc data add PATH``: ``dvc add`` the file (when new or changed) and push it."""
    path = os.path.abspath(path)
    if find_dvc_root(path) is None:
        raise QCError(path, "not inside a DVC repository; expected a file under a folder where `dvc init` was run")
    return version_path(path, "add", path)


def version_path(path: str, mode: str, field: str, **facts) -> DatasetVersion:
    """Version a file or a folder (one DVC directory); ``facts``: rows, columns, shape to record."""
    # mode "add" is auto for `mlflow-qc data add`: git-versioned files are refused, pushes always happen.
    if not os.path.exists(path):
        raise QCError(field, f"file not found: {path}; expected a data file or folder")
    rows, columns, shape = facts.get("rows"), facts.get("columns"), facts.get("shape")
    root = None if mode == "off" else find_dvc_root(path)
    if root is None:
        if mode == "require":
            raise QCError(
                field,
                f"{path} is not tracked by DVC (no DVC repository above it); "
                f"run `dvc init` and `mlflow-qc data add {path}`, or set data.version: auto",
            )
        return DatasetVersion(path=path, md5=path_md5(path), rows=rows, columns=columns, shape=shape)
    rel = os.path.relpath(path, root)
    if git(root, "ls-files", "--", path):
        if mode != "auto":
            hint = ", or set data.version: auto" if mode == "require" else ""
            raise QCError(
                field,
                f"{rel} is versioned by git, so DVC cannot track it; "
                f"run `git rm --cached {rel}` and `mlflow-qc data add {path}`{hint}",
            )
        head, dirty = git_state(root, path)
        return DatasetVersion(
            path=path,
            md5=path_md5(path),
            dvc_root=root,
            dvc_path=rel,
            rows=rows,
            columns=columns,
            shape=shape,
            git_revision=head,
            git_dirty=dirty,
        )
    with DvcRepo(root, field) as repo:
        return _version_with_dvc(repo, path, mode, field, rel, rows=rows, columns=columns, shape=shape)


def _version_with_dvc(repo: DvcRepo, path: str, mode: str, field: str, rel: str, **facts) -> DatasetVersion:
    """The md5 DVC gives ``path`` (a folder without what .dvcignore excludes), ``dvc add`` (auto) when it
    is untracked or changed, and a push when the default remote lacks it."""
    if repo.is_ignored(path):
        raise QCError(
            field,
            f"{rel} is excluded by .dvcignore; expected data DVC can track: drop the rule, or set data.version: off",
        )
    md5 = repo.md5(path)
    remote = repo.remote_url
    dvc_file, tracked_path, recorded = repo.tracking(path)
    current = (
        md5 if tracked_path in (None, os.path.abspath(path)) else repo.md5(tracked_path)
    )  # a file of a tracked folder
    if dvc_file is None or recorded != current:
        if mode == "require":
            state = "not tracked by DVC" if dvc_file is None else "changed since `dvc add`"
            raise QCError(field, f"{rel} is {state}; run `mlflow-qc data add {path}` or set data.version: auto")
        dvc_file, recorded = repo.add(tracked_path or path)
        if recorded != current:
            raise QCError(
                field, f"{rel} changed while DVC added it; expected data that stays unchanged during training"
            )
        if remote:
            repo.push(dvc_file)
    elif remote and (mode == "add" or not _remote_has(remote, recorded)):
        if not repo.cached(recorded):  # the data as its committed .dvc file records it, never added here (a clone)
            repo.commit(dvc_file)
        repo.push(dvc_file)
    head, dirty = git_state(repo.root, dvc_file)
    log.info("dataset %s: DVC md5 %s (%s)", rel, md5, dvc_file)
    return DatasetVersion(
        path=path,
        md5=md5,
        dvc_root=repo.root,
        dvc_path=rel,
        remote_url=remote,
        git_revision=head,
        git_dirty=dirty,
        tracked=True,
        **facts,
    )


def _remote_has(remote: str, md5: str) -> bool:
    """Whether a local remote holds ``md5``; other remotes are assumed to (checking costs a round trip)."""
    if "://" in remote:
        return True
    return stored_object(remote, md5) is not None


# --- restoring -----------------------------------------------------------------


def restore_version(version: DatasetVersion, dest: str) -> str:
    """Write the exact bytes of ``version`` (a file, or a whole folder) to ``dest`` (or into it, a folder).

    Looked for, cheapest first, in the DVC cache of ``dvc_root``, the data at ``path``,
    git at ``git_revision`` (files), and the DVC remote; every candidate is checked by md5.
    """
    if version.path is None:
        raise QCError("dataset", "the run used an in-memory DataFrame; there is no file to restore")
    into_folder = os.path.isdir(dest) or dest.endswith(("/", os.sep))
    target = os.path.join(dest, os.path.basename(version.path)) if into_folder else dest
    if version.is_folder and os.path.exists(target):
        raise QCError(
            dest, f"{target} exists; expected a place where the folder {os.path.basename(version.path)} can be written"
        )
    with tempfile.TemporaryDirectory(prefix="qc-restore-") as scratch:
        for source in (_from_cache, _from_workspace, _from_git, _from_remote):
            found = source(version, scratch)
            if found is not None and path_md5(found) == version.md5:
                os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
                if version.is_folder:
                    shutil.copytree(found, target)
                else:
                    shutil.copyfile(found, target)
                return target
    remote = version.remote_url or "none recorded"
    data = "folder" if version.is_folder else "file"
    raise QCError(
        version.path,
        f"version md5 {version.md5} is in neither the DVC cache, the {data}, git nor the DVC remote ({remote})",
    )


def _cache_dir(version: DatasetVersion) -> str | None:
    """The DVC cache of the repository the run used (wherever its config, at any level, puts it)."""
    if version.dvc_root is None or not os.path.isdir(os.path.join(version.dvc_root, ".dvc")):
        return None
    try:
        with DvcRepo(version.dvc_root, version.path) as repo:
            return repo.cache_dir
    except QCError:
        return None


def _manifest(cache: str, dir_md5: str) -> dict[str, str]:
    """relpath -> md5 of a tracked folder, from its ``.dir`` object in the DVC cache."""
    for manifest in object_paths(cache, dir_md5):
        try:
            with open(manifest) as handle:
                return {entry["relpath"]: entry["md5"] for entry in json.load(handle)}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return {}


def _from_cache(version: DatasetVersion, scratch: str) -> str | None:
    cache = _cache_dir(version)
    if cache is None:
        return None
    found = stored_object(cache, version.md5)
    if found is None or not version.is_folder:
        return found
    folder = os.path.join(scratch, "from-cache")
    for relpath, md5 in _manifest(cache, version.md5).items():
        source = stored_object(cache, md5)
        if source is None:
            return None
        os.makedirs(os.path.dirname(os.path.join(folder, relpath)), exist_ok=True)
        shutil.copyfile(source, os.path.join(folder, relpath))
    return folder if os.path.isdir(folder) else None


def _from_workspace(version: DatasetVersion, scratch: str) -> str | None:
    return version.path if os.path.exists(version.path) else None


def _from_git(version: DatasetVersion, scratch: str) -> str | None:
    """A file or a whole folder as the recorded commit holds it (``git archive``)."""
    if not (version.git_revision and version.dvc_root and version.dvc_path and os.path.isdir(version.dvc_root)):
        return None
    proc = subprocess.run(
        ["git", "archive", "--format=tar", version.git_revision, "--", version.dvc_path],
        cwd=version.dvc_root,
        capture_output=True,
    )
    if proc.returncode != 0:
        return None
    out = os.path.join(scratch, "from-git")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as archive:
        archive.extractall(out, filter="data")
    found = os.path.join(out, version.dvc_path)
    return found if os.path.exists(found) else None


def _from_remote(version: DatasetVersion, scratch: str) -> str | None:
    """``dvc pull`` a stand-in ``.dvc`` file naming the md5: in the original repository
    (its remote settings and cache), else in a throwaway repository pointed at the recorded remote."""
    root = version.dvc_root
    if root and os.path.isdir(os.path.join(root, ".dvc")):
        workdir = tempfile.mkdtemp(prefix=".qc-restore-", dir=root)
    elif version.remote_url:
        root = workdir = os.path.join(scratch, "repo")
        os.makedirs(root)
        init_bare_repo(root, version.remote_url)
    else:
        return None
    try:
        with DvcRepo(root, version.path) as repo:
            if repo.remote_url is None:
                return None
            with open(os.path.join(workdir, "data.dvc"), "w") as handle:
                handle.write(f"outs:\n- md5: {version.md5}\n  hash: md5\n  path: data\n")
            repo.pull(os.path.join(workdir, "data.dvc"))
        return shutil.move(os.path.join(workdir, "data"), os.path.join(scratch, "from-remote"))
    finally:
        if workdir != root:
            shutil.rmtree(workdir, ignore_errors=True)
