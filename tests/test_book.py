"""The book builds, and the repository's front page says what the project is."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_config_points_launch_buttons_at_main():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["repository"]["branch"] == "main"  # Jupyter Book's default is master
    assert cfg["execute"]["execute_notebooks"] == "off"
    assert cfg["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")


def test_book_builds_without_warnings(book_html):
    html = (book_html / "book" / "intro.html").read_text()
    assert "Leslie Smith" in html and "Super-Convergence" in html
    assert "Cyclical Learning Rates for Training Neural Networks" in html  # the bibliography


def test_readme_shows_the_two_commands_first():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```bash", 1)[1].split("```", 1)[0]
    assert "make book" in first_block and "make test" in first_block
    assert text.index("make book") < text.index("## Data")
