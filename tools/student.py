"""``make student``: the student edition, as notebooks and as HTML, with no solutions in it.

Copies the book's sources to ``_build/student/src``, and in every chapter notebook:
- replaces the code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
  markers) with ``raise NotImplementedError()``, keeping the indentation;
- removes the solution directives, i.e. every markdown cell from a ``{solution-start}`` to its
  ``{solution-end}`` and any ``{solution}`` directive;
- clears all outputs, and replaces each glued number in the prose by a note naming the value
  the student's own run will produce.
Then builds that copy into ``_build/student/src/_build/html``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools.notebooks import ROOT, chapters  # noqa: E402

OUT = ROOT / "_build" / "student"
GLUE = re.compile(r"\{glue(?::[a-z]+)?\}`([^`:]+)(?::[^`]*)?`")
BLOCK = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*$",
                   re.S | re.M)


def strip_code(source: str) -> str:
    return BLOCK.sub(lambda m: f"{m.group(1)}raise NotImplementedError()", source)


def student_notebook(nb):
    cells, inside = [], False
    for cell in nb.cells:
        src = cell.source
        if cell.cell_type == "markdown" and "{solution-start}" in src:
            inside = True
        if cell.cell_type == "markdown" and (inside or "{solution}" in src):
            inside = inside and "{solution-end}" not in src
            continue
        if cell.cell_type == "markdown":  # no stored outputs to glue from: say where it comes
            cell.source = GLUE.sub(lambda m: f"*(`{m.group(1)}` from your run)*", src)
        if cell.cell_type == "code":
            cell.source = strip_code(src)
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("book", None)
    return nb


def main() -> int:
    src = OUT / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "book", src / "book",
                    ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "results"))
    for path in chapters():
        nb = student_notebook(nbformat.read(path, as_version=4))
        out = src / path.relative_to(ROOT)
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out)
    jb = Path(sys.executable).parent / "jupyter-book"
    run = subprocess.run([str(jb), "build", str(src), "--warningiserror", "--keep-going"])
    if run.returncode:
        return run.returncode
    print(f"Student notebooks: {src / 'book'}\nStudent HTML: {src / '_build' / 'html'}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
