"""CI: the wheel with [pytorch] and with [keras] resolves for macOS arm64 (pip install --dry-run, binary wheels only).

pip evaluates environment markers for the machine it runs on even with --platform (torch's CUDA packages,
our tensorflow-cpu for Linux x86-64), so pip runs here with the marker environment of a Mac. dvc needs
antlr4-python3-runtime (through hydra-core), published only as a source distribution: its pure-Python wheel
is built first and offered with --find-links. Needs the package index (PyPI).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MAC = {
    "sys_platform": "darwin",
    "platform_system": "Darwin",
    "platform_machine": "arm64",
    "os_name": "posix",
    "platform_release": "23.0.0",
    "platform_version": "Darwin Kernel Version 23.0.0",
}
PIP_AS_ON_A_MAC = f"""
import sys
import pip._vendor.packaging.markers as markers
host = markers.default_environment
markers.default_environment = lambda: {{**host(), **{MAC!r}}}
from pip._internal.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=True)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="qc-macos-"))
    pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(work), str(REPO_ROOT))
    pip(
        "wheel",
        "-q",
        "--no-deps",
        "-w",
        str(work / "sdist-only"),
        f"antlr4-python3-runtime=={metadata.version('antlr4-python3-runtime')}",
    )
    wheel = next(work.glob("mlflow_qc-*.whl"))
    runs = {
        extra: subprocess.Popen(
            [
                sys.executable,
                "-c",
                PIP_AS_ON_A_MAC,
                "install",
                "--dry-run",
                "--ignore-installed",
                "--only-binary=:all:",
                "--platform",
                "macosx_14_0_arm64",
                "--python-version",
                "3.11",
                "--target",
                str(work / "target"),
                "--find-links",
                str(work / "sdist-only"),
                f"mlflow-qc[{extra}] @ {wheel.as_uri()}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for extra in ("pytorch", "keras")
    }
    failed = 0
    for extra, run in runs.items():
        output = run.communicate()[0]
        plan = next((line for line in output.splitlines() if line.startswith("Would install")), None)
        if run.returncode != 0 or plan is None:
            print(f"mlflow-qc[{extra}] does not resolve for macOS arm64:\n{output[-4000:]}", file=sys.stderr)
            failed = 1
        else:
            chosen = [p for p in plan.split() if p.startswith(("torch-", "tensorflow-", "keras-"))]
            print(f"mlflow-qc[{extra}] resolves for macOS arm64: {' '.join(chosen)}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
