"""SIGTERM raised like Ctrl-C, so that ``finally`` blocks end runs KILLED.

Apart from ``run/session.py`` (which re-exports it) so that the command line installs it without
importing MLflow: a mistake in a recipe is reported before anything heavy is loaded.
"""

from __future__ import annotations

import signal


class Interrupted(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so ``finally`` blocks end runs KILLED."""


def raise_on_sigterm() -> None:
    def handler(signum, frame):
        raise Interrupted(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
