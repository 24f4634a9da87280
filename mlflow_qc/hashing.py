"""Content hashes: one way to turn data into a stable key or digest."""

from __future__ import annotations

import hashlib
import json


def canonical_json(value) -> str:
    """JSON with sorted keys and no spaces: equal data, equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(data: str | bytes, length: int | None = None) -> str:
    """The sha256 hex digest of ``data`` (text as UTF-8), cut to ``length`` characters."""
    raw = data.encode() if isinstance(data, str) else data
    text = hashlib.sha256(raw).hexdigest()
    return text if length is None else text[:length]


def content_key(payload, length: int = 24) -> str:
    """A key for ``payload`` (any JSON-able data): the digest of its canonical JSON."""
    return digest(canonical_json(payload), length)
