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


def _markdown(nb_path):
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_every_chapter_links_to_the_recipe():
    import re

    from tools.notebooks import chapters

    link = re.compile(r"\{doc\}`(recipe|[^`]*<recipe>)`")
    missing = [p.name for p in chapters() if not link.search(_markdown(p))]
    assert not missing, f"chapters without a link to the recipe: {missing}"
    assert link.search((ROOT / "book" / "intro.md").read_text())


def test_every_recipe_rule_links_to_an_experiment_in_the_book():
    import re

    from tools.notebooks import chapters

    labels = set()
    for p in chapters():
        labels |= set(re.findall(r"^\(([\w-]+)\)=$", _markdown(p), re.M))
    text = (ROOT / "book" / "recipe.md").read_text()
    rules = re.split(r"\n(?=\d+\. )", text.split("## Before you tune", 1)[1])
    rules = [r for r in rules if re.match(r"\d+\. ", r)]
    assert len(rules) >= 10
    for rule in rules:
        targets = re.findall(r"\{ref\}`([\w-]+)`", rule)
        assert targets, f"recipe rule without a link to its experiment: {rule[:60]!r}"
        unknown = set(targets) - labels
        assert not unknown, f"recipe rule links to labels no chapter defines: {unknown}"
