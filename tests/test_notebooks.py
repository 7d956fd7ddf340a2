"""The chapters as committed: outputs from a real run, fresh, with working exercises."""

import re
import warnings

import nbformat
import pytest
import yaml

from tools.notebooks import ROOT, chapters, code_hash, utils_hash

CHAPTERS = chapters()
IDS = [p.stem for p in CHAPTERS]


def load(path):
    return nbformat.read(path, as_version=4)


def test_there_are_chapters():
    assert CHAPTERS, "no chapter notebooks listed in _toc.yml"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_outputs_come_from_a_stamped_cpu_or_gpu_run(path):
    nb = load(path)
    name = path.relative_to(ROOT)
    stamp = nb.metadata.get("book")
    assert stamp, f"{name} was never executed with `make execute CHAPTER={name}`"
    assert stamp["profile"] in ("cpu", "gpu"), (
        f"{name}: stored outputs come from the {stamp['profile']!r} profile; "
        f"run `make execute CHAPTER={name}`")
    errors = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{name} has stored error outputs in cells starting {errors}"
    unexecuted = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "code"
                  and c.execution_count is None and "nbval-skip" not in c.metadata.get("tags", [])]
    assert not unexecuted, f"{name} has cells that were not executed: {unexecuted}"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_code_unchanged_since_execution(path):
    nb = load(path)
    name = path.relative_to(ROOT)
    stamp = nb.metadata.get("book", {})
    assert stamp.get("code_hash") == code_hash(nb), (
        f"{name}: its code changed after its outputs were made; "
        f"run `make execute CHAPTER={name}` and commit the result")
    if stamp.get("utils_hash") != utils_hash():
        warnings.warn(f"{name} was executed with an older utils/ package; consider "
                      f"`make execute CHAPTER={name}`", stacklevel=1)


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_template_cells(path):
    nb = load(path)
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    colab, card = nb.cells[1], nb.cells[2]
    assert "google.colab" in colab.source and f"git+{repo}@main" in colab.source, (
        f"{path.name}: the Colab set-up cell must install from {repo} (the URL in _config.yml)")
    assert {"remove-cell", "nbval-skip"} <= set(colab.metadata.get("tags", []))
    assert "show()" in card.source


SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def solution_lines(nb):
    """Every distinctive line of solution code and of solution prose in a notebook: lines that
    appear nowhere else in it (``seed_everything(0)`` in a solution is no secret)."""
    lines, inside, public = [], False, set()
    for c in nb.cells:
        if c.cell_type == "markdown" and "{solution-start}" in c.source:
            inside = True
            continue
        if c.cell_type == "markdown" and "{solution-end}" in c.source:
            inside = False
        if c.cell_type == "code":
            for block in SOLUTION.findall(c.source):
                lines += block.splitlines()
            public.update(ln.strip() for ln in SOLUTION.sub("", c.source).splitlines())
        elif inside or "{solution-end}" in c.source:
            lines += c.source.split("::::{solution-end}")[0].splitlines()
        else:
            public.update(ln.strip() for ln in c.source.splitlines())
    return [ln.strip() for ln in lines if len(ln.strip()) > 12 and ln.strip() not in public]


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_exercises_have_solutions_and_passing_checks(path):
    nb = load(path)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    labels = re.findall(r":::\{exercise\}\n:label: (\S+)", md)
    assert len(labels) >= 3, f"{path.name} has {len(labels)} exercises; at least 3 are needed"
    for label in labels:
        assert f"{{solution-start}} {label}" in md, f"exercise {label} has no solution"
    assert solution_lines(nb)
    checks = [c for c in nb.cells if c.cell_type == "code" and "check_" in c.source
              and "import" in c.source]
    assert len(checks) >= 3
    for c in checks:  # the instructor's solutions passed their checks in the stored run
        text = "".join(o.get("text", "") for o in c.outputs)
        assert text.startswith("Correct."), f"{path.name}: `{c.source.splitlines()[-1]}` " \
                                            f"printed {text!r}"


def test_student_edition_has_no_solutions():
    import html
    import subprocess
    import sys

    run = subprocess.run([sys.executable, str(ROOT / "tools" / "student.py")],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    src = ROOT / "_build" / "student" / "src"
    for path in CHAPTERS:
        secrets = solution_lines(load(path))
        student = load(src / path.relative_to(ROOT))
        text = "\n".join(c.source for c in student.cells)
        assert "raise NotImplementedError()" in text
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
        assert "{solution" not in text
        page = src / "_build" / "html" / path.relative_to(ROOT).with_suffix(".html")
        visible = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        nb_lines = {ln.strip() for ln in text.splitlines()}
        html_lines = {ln.strip() for ln in visible.splitlines()}
        for line in secrets:
            assert line not in nb_lines, f"solution line survives in the student notebook: {line}"
            assert line not in html_lines, f"solution line survives in the student HTML: {line}"
