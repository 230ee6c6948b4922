"""Build the ``yihao-client`` wheel: the client library without the server.

    python packaging/yihao-client/build.py [OUT_DIR]      # default: ./dist

Stages ``clients/``, ``yihao_shared/`` and the stubs generated now from ``protos/`` (with
grpc_tools, a build-time tool of the development install) beside this directory's
pyproject.toml, and builds the wheel there with pip. Prints the wheel's path.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PACKAGES = ("clients", "yihao_shared")


def _stage(stage: Path) -> None:
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(HERE / name, stage / name)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, stage / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    protos = sorted(str(p) for p in (ROOT / "protos").glob("yihao/v1/*.proto"))
    subprocess.run(
        [
            *(sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'protos'}"),
            *(f"--python_out={stage}", f"--grpc_python_out={stage}", f"--pyi_out={stage}"),
            *protos,
        ],
        check=True,
    )
    for package in ("yihao", "yihao/v1"):
        (stage / package / "__init__.py").touch()


def build(out_dir: Path) -> Path:
    """Build the wheel into ``out_dir`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yihao-client-") as tmp:
        stage = Path(tmp)
        _stage(stage)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"),
                *("--wheel-dir", str(out_dir), str(stage)),
            ],
            check=True,
        )
    return max(out_dir.glob("yihao_client-*.whl"), key=lambda p: p.stat().st_mtime)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist"))
