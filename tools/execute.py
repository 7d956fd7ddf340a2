"""``make execute``: run chapters top to bottom with nbclient and stamp where outputs came from.

    python tools/execute.py [book/ch0_setup.ipynb ...]   (default: every chapter in _toc.yml)

Runs with ``BOOK_PROFILE=cpu`` unless the environment sets another profile, writes the outputs
into the notebook in place, and stamps ``metadata.book`` with the profile, device, library
versions, wall time, date and hashes of the code cells and of ``utils/``. A notebook whose run
fails is left untouched (its previous outputs survive) and the error is printed.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools.notebooks import ROOT, chapters, code_hash, utils_hash  # noqa: E402


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def execute(path: Path, profile: str) -> bool:
    from utils.runcard import device_name, versions

    nb = nbformat.read(path, as_version=4)
    os.environ["BOOK_PROFILE"] = profile
    print(f"executing {_name(path)} with BOOK_PROFILE={profile} ...", flush=True)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as e:
        print(f"FAILED: {_name(path)} (left unchanged)\n{e}", file=sys.stderr)
        return False
    wall = time.perf_counter() - start
    nb.metadata["book"] = {
        "profile": profile,
        "device": device_name(),
        "versions": versions(),
        "wall_s": round(wall, 1),
        "executed": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "code_hash": code_hash(nb),
        "utils_hash": utils_hash(),
    }
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)  # a crash mid-write never leaves half a notebook
    print(f"done: {_name(path)} in {wall:.0f} s", flush=True)
    return True


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or chapters()
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"no such notebook: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    profile = os.environ.get("BOOK_PROFILE") or "cpu"
    ok = [execute(p, profile) for p in paths]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
