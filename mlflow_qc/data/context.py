"""Reading a DVC workspace cheaply: no DVC import, only files and a few git calls.

``DVCRunContextProvider`` (entry point ``mlflow.run_context_provider``) tags every
run started inside a DVC repository with its state: it runs at every ``start_run``, so it
reads the repository's own files and never imports DVC (its remote tag reads the repository
and local config only; versioning itself goes through DVC's API, ``dvc_api.py``).
``versioning.py`` shares the hashing of files (``path_md5``) and the object layout.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import subprocess

import yaml
from mlflow.tracking.context.abstract_context import RunContextProvider

from mlflow_qc.tracking.names import UNVERSIONED_FOLDERS

# Data files above this size are compared by size only in the workspace ``dirty`` tag.
HASH_LIMIT_BYTES = 64 * 2**20
_METAFILES = (":(glob)**/*.dvc", ":(glob)**/dvc.yaml", ":(glob)**/dvc.lock")
# git skips these folders when it looks for untracked DVC files, at any depth, instead of walking their files
_SKIPPED = tuple(f":(exclude,glob)**/{folder}/**" for folder in UNVERSIONED_FOLDERS)
_md5_memo: dict[tuple, str] = {}


def find_dvc_root(path: str) -> str | None:
    """The nearest folder at or above ``path`` holding a ``.dvc`` folder."""
    current = os.path.abspath(path)
    if not os.path.isdir(current):
        current = os.path.dirname(current)
    while not os.path.isdir(os.path.join(current, ".dvc")):
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    return current


def read_config(root: str) -> configparser.ConfigParser:
    """The repository's DVC config (``config.local`` overriding ``config``)."""
    config = configparser.ConfigParser(interpolation=None, strict=False)
    config.read([os.path.join(root, ".dvc", "config"), os.path.join(root, ".dvc", "config.local")])
    return config


def _config_path(root: str, value: str) -> str:
    # DVC stores local paths relative to the .dvc folder that holds the config.
    if "://" in value or os.path.isabs(value):
        return value
    return os.path.normpath(os.path.join(root, ".dvc", value))


def default_remote_url(root: str) -> str | None:
    """The URL of the default remote; an absolute path for a local remote."""
    config = read_config(root)
    name = config.get("core", "remote", fallback=None)
    for section in (f"'remote \"{name}\"'", f'remote "{name}"'):
        if name and config.has_option(section, "url"):
            return _config_path(root, config.get(section, "url"))
    return None


def object_paths(storage: str, md5: str) -> list[str]:
    """Where a cache or local remote keeps ``md5``: DVC 3 layout, then DVC 2."""
    return [os.path.join(storage, "files", "md5", md5[:2], md5[2:]), os.path.join(storage, md5[:2], md5[2:])]


def stored_object(storage: str, md5: str) -> str | None:
    """The file holding ``md5`` in a cache or local remote, or None when it holds none."""
    return next((path for path in object_paths(storage, md5) if os.path.isfile(path)), None)


def dvc_out(dvc_file: str) -> dict | None:
    """The first output recorded in a ``.dvc`` file, or None when there is none."""
    try:
        with open(dvc_file) as handle:
            outs = (yaml.safe_load(handle) or {}).get("outs") or []
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    return outs[0] if outs and isinstance(outs[0], dict) else None


def file_md5(path: str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def folder_md5(path: str) -> str:
    """DVC's version of a folder: the md5 of its sorted ``[{md5, relpath}]`` manifest, plus ``.dir``."""
    entries = []
    for folder, _, names in os.walk(path):
        for name in names:
            full = os.path.join(folder, name)
            entries.append({"md5": file_md5(full), "relpath": os.path.relpath(full, path).replace(os.sep, "/")})
    entries.sort(key=lambda entry: entry["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def path_md5(path: str) -> str:
    """A file's md5, or a folder's DVC ``.dir`` md5."""
    return folder_md5(path) if os.path.isdir(path) else file_md5(path)


def git(root: str, *args: str) -> str | None:
    """stdout of a git command run in ``root``; None when git fails or is missing."""
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_state(root: str, path: str) -> tuple[str | None, bool]:
    """(HEAD commit, whether ``path`` differs from it); (None, False) outside git."""
    head = git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    if head is None:
        return None, False
    return head.strip(), bool(git(root, "status", "--porcelain", "--", path))


def _data_changed(dvc_file: str) -> bool:
    out = dvc_out(dvc_file)
    if out is None or "path" not in out:
        return False
    target = os.path.join(os.path.dirname(dvc_file), out["path"])
    if str(out.get("md5", "")).endswith(".dir"):
        return not os.path.isdir(target)  # folder contents are not compared (too costly here)
    try:
        stat = os.stat(target)
    except OSError:
        return True
    if out.get("size") is not None and stat.st_size != out["size"]:
        return True
    if stat.st_size > HASH_LIMIT_BYTES:
        return False
    key = (target, stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _md5_memo:
        _md5_memo[key] = file_md5(target)
    return _md5_memo[key] != out.get("md5")


def workspace_dirty(root: str) -> bool | None:
    """True when a .dvc/dvc.yaml/dvc.lock file is uncommitted or data differs from its .dvc file.

    None when the repository is not under git.
    """
    status = git(root, "status", "--porcelain", "--untracked-files=all", "--", *_METAFILES, *_SKIPPED)
    if status is None:
        return None
    if status.strip():
        return True
    listed = git(root, "ls-files", "-z", "--", _METAFILES[0]) or ""
    return any(_data_changed(os.path.join(root, name)) for name in listed.split("\0") if name)


def workspace_tags(cwd: str) -> dict[str, str]:
    root = find_dvc_root(cwd)
    if root is None:
        return {}
    tags = {"qc.dvc.root": root}
    remote = default_remote_url(root)
    if remote:
        tags["qc.dvc.remote"] = remote
    head = git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    if head:
        tags["qc.dvc.git_commit"] = head.strip()
    dirty = workspace_dirty(root)
    if dirty is not None:
        tags["qc.dvc.dirty"] = str(dirty).lower()
    return tags


class DVCRunContextProvider(RunContextProvider):
    """Tags runs started inside a DVC repository: root, git commit, dirty, remote."""

    def in_context(self) -> bool:
        try:
            return find_dvc_root(os.getcwd()) is not None
        except Exception:  # a context provider must never break start_run
            return False

    def tags(self) -> dict[str, str]:
        try:
            return workspace_tags(os.getcwd())
        except Exception:  # a context provider must never break start_run
            return {}
