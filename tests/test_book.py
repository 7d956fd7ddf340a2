"""The book builds, and the repository's front page says what the project is."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_config_points_launch_buttons_at_main():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["repository"]["branch"] == "main"  # Jupyter Book's default is master
    assert cfg["execute"]["execute_notebooks"] == "off"
    assert cfg["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")


def test_book_builds_without_warnings(tmp_path):
    jb = Path(sys.executable).parent / "jupyter-book"
    run = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(tmp_path), "-W"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    html = (tmp_path / "_build" / "html" / "book" / "intro.html").read_text()
    assert "Leslie Smith" in html and "Super-Convergence" in html
    assert "Cyclical Learning Rates for Training Neural Networks" in html  # the bibliography


def test_readme_shows_the_two_commands_first():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```bash", 1)[1].split("```", 1)[0]
    assert "make book" in first_block and "make test" in first_block
    assert text.index("make book") < text.index("## Data")
