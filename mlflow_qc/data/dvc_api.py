"""DVC's own API on one repository: its config (system, global, repository and local levels merged),
its ``.dvcignore`` rules, its hashing, ``add``, ``push`` and ``pull``.

DVC is imported here only, and only when data lives in a DVC repository and is versioned
(``data.version`` auto or require, ``mlflow-qc data add``): a recipe with ``version: off`` never loads it.
Offline: no analytics, no update check, whatever the user's config says.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from mlflow_qc.data.context import stored_object
from mlflow_qc.errors import QCError, one_line

OFFLINE = {"core": {"analytics": False, "check_update": False}}


class DvcRepo:
    """One opened DVC repository (``with DvcRepo(root, field) as repo``); DVC errors become QCErrors naming
    ``field``."""

    def __init__(self, root: str, field: str):
        os.environ.setdefault("DVC_NO_ANALYTICS", "1")
        from dvc.exceptions import DvcException
        from dvc.repo import Repo

        self.field = field
        self.errors = DvcException
        try:
            self.repo = Repo(root, config=OFFLINE, _wait_for_lock=True)
        except DvcException as exc:
            raise QCError(field, f"DVC cannot open the repository {root}: {one_line(exc)}") from None
        self.repo.scm_context.quiet = True  # no "To track the changes with git, run: ..." on our output

    def __enter__(self) -> DvcRepo:
        return self

    def __exit__(self, *exc) -> None:
        self.repo.close()

    @property
    def root(self) -> str:
        return self.repo.root_dir

    @property
    def cache_dir(self) -> str:
        """Where the cache keeps objects (``<cache>/files/md5``)."""
        return os.path.dirname(os.path.dirname(self.repo.cache.local.path))

    @property
    def remote_url(self) -> str | None:
        """The default remote's URL (any config level); an absolute path for a local remote."""
        name = self.repo.config["core"].get("remote")
        return self.repo.config["remote"].get(name, {}).get("url") if name else None

    def is_ignored(self, path: str) -> bool:
        return self.repo.dvcignore.is_ignored(self.repo.fs, os.path.abspath(path))

    def md5(self, path: str) -> str:
        """DVC's hash of a file, or of a folder (``<md5>.dir``) without what ``.dvcignore`` excludes."""
        from dvc_data.hashfile.build import build

        with self._dvc("hash"):
            _, _, obj = build(
                self.repo.cache.local,
                os.path.abspath(path),
                self.repo.fs,
                "md5",
                ignore=self.repo.dvcignore,
                dry_run=True,
            )
        return obj.hash_info.value

    def tracking(self, path: str) -> tuple[str | None, str | None, str | None]:
        """(the ``.dvc`` file or ``dvc.yaml`` whose output holds ``path``, that output's path, the md5 it records)."""
        from dvc.exceptions import OutputNotFoundError

        absolute = os.path.abspath(path)
        try:
            out = self._out_of_dvc_file_above(absolute)
            if out is None:
                # the outputs as listed (not the stage graph, whose checks of the whole pipeline cost ~0.4 s)
                [out, *_] = self.repo.find_outs_by_path(absolute, outs=self.repo.index.outs, strict=False)
        except OutputNotFoundError:
            return None, None, None
        except self.errors as exc:
            raise QCError(self.field, f"DVC cannot read the repository {self.root}: {one_line(exc)}") from None
        return out.stage.path, out.fs_path, out.hash_info.value if out.hash_info else None

    def _out_of_dvc_file_above(self, absolute: str):
        """The output holding ``absolute`` from the ``.dvc`` file ``dvc add`` writes beside it or beside a folder
        above it, loaded alone; None when there is none (then DVC's index of the whole repository is read, for
        ``dvc.yaml`` outputs: it walks every folder DVC and git do not ignore, the MLflow store's artifacts
        included, seconds in a project with a few thousand runs). An output belongs to one ``.dvc`` file only."""
        from dvc.exceptions import OutputNotFoundError

        candidate, root = absolute, os.path.abspath(self.root)
        while candidate.startswith(root + os.sep):
            dvc_file = candidate + ".dvc"
            if os.path.isfile(dvc_file) and not self.is_ignored(dvc_file):
                outs = [out for stage in self.repo.stage.load_file(dvc_file) for out in stage.outs]
                try:
                    return self.repo.find_outs_by_path(absolute, outs=outs, strict=False)[0]
                except OutputNotFoundError:
                    return None
            candidate = os.path.dirname(candidate)
        return None

    def add(self, target: str) -> tuple[str, str]:
        """``dvc add`` the file or folder: (its ``.dvc`` file, the md5 recorded)."""
        with self._dvc("add"):
            [stage] = self.repo.add([os.path.abspath(target)])
        return stage.path, stage.outs[0].hash_info.value

    def commit(self, dvc_file: str) -> None:
        """``dvc commit``: the outputs of ``dvc_file`` into the cache, as they are in the workspace."""
        with self._dvc("commit"):
            self.repo.commit(os.path.abspath(dvc_file), force=True)

    def cached(self, md5: str) -> bool:
        return stored_object(self.cache_dir, md5) is not None

    def push(self, dvc_file: str) -> None:
        with self._dvc("push"):
            self.repo.push(targets=[dvc_file])

    def pull(self, dvc_file: str) -> None:
        with self._dvc("pull"):
            self.repo.pull(targets=[dvc_file])

    @contextmanager
    def _dvc(self, verb: str):
        try:
            yield
        except self.errors as exc:
            raise QCError(self.field, f"`dvc {verb}` failed in {self.root}: {one_line(exc)}") from None


def init_bare_repo(root: str, remote_url: str) -> None:
    """A throwaway DVC repository without git whose default remote is ``remote_url`` (a restore's last resort)."""
    from dvc.repo import Repo

    Repo.init(root, no_scm=True).close()
    with open(os.path.join(root, ".dvc", "config"), "w") as handle:
        handle.write(f"[core]\n    no_scm = True\n    remote = origin\n['remote \"origin\"']\n    url = {remote_url}\n")
