"""Shared by the book's tools and tests: which notebooks are chapters, and their fingerprints."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def chapters() -> list[Path]:
    """The notebooks listed in ``_toc.yml``, in book order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = []

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections"))
            for part in e.get("parts", []) or []:
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def code_hash(nb) -> str:
    """A hash of the notebook's code cells: changes when any code changes, not with outputs."""
    code = "\n\x00\n".join(c.source.rstrip() for c in nb.cells if c.cell_type == "code")
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def utils_hash() -> str:
    """A hash of the ``utils`` package's source, to tell a stamp made with an older one."""
    h = hashlib.sha256()
    for p in sorted((ROOT / "utils").glob("*.py")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:16]
