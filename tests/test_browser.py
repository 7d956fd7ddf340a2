"""The rendered book in a real browser: headless Chromium (Debian's) driven by Playwright.

Serves the built HTML on 127.0.0.1 and visits the intro and every chapter: title, figures
loaded, the Colab launch link, solutions collapsed until clicked, internal links alive. A
screenshot of each page goes to _build/screenshots/.
"""

import functools
import http.server
import shutil
import threading
import urllib.parse
from pathlib import Path

import pytest
import yaml

from tools.notebooks import ROOT, chapters

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "_build" / "screenshots"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not found: `apt-get install chromium` (Debian) and `pip install playwright`"
           " (no browser download needed); .ci/run installs both")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(book_html):
    handler = functools.partial(QuietHandler, directory=str(book_html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


PAGES = [("book/intro", "Leslie Smith"), ("book/recipe", "Weight decay")] + [
    (str(p.relative_to(ROOT).with_suffix("")), None) for p in chapters()]


def check_links(page, url):
    """Every internal link on the page answers 200."""
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    base = urllib.parse.urlsplit(url)
    broken = []
    for href in set(hrefs):
        target = urllib.parse.urlsplit(href)
        if target.netloc != base.netloc:
            continue
        clean = urllib.parse.urlunsplit(target._replace(fragment=""))
        if page.request.get(clean).status != 200:
            broken.append(clean)
    assert not broken, f"broken internal links on {url}: {broken}"


@pytest.mark.parametrize("doc, title_part", PAGES, ids=[p[0] for p in PAGES])
def test_page_in_browser(site, browser, doc, title_part):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    url = f"{site}/{doc}.html"
    page.goto(url, wait_until="load")
    title = page.title()
    assert title and "Leslie Smith" in title, title  # every page carries the book's title
    if title_part:
        assert title_part in page.inner_text("main")

    widths = page.eval_on_selector_all("main img", "els => els.map(e => e.naturalWidth)")
    assert all(w > 0 for w in widths), f"{doc}: an image did not load ({widths})"

    if doc not in ("book/intro", "book/recipe"):  # prose pages: no figures, no exercises
        assert widths, f"{doc} shows no figures"
        repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
        slug = urllib.parse.urlsplit(repo).path.strip("/")
        colab = page.eval_on_selector_all(
            "a[href*='colab.research.google.com']", "els => els.map(e => e.href)")
        assert f"https://colab.research.google.com/github/{slug}/blob/main/{doc}.ipynb" in colab

        solutions = page.locator("div.solution")
        assert solutions.count() >= 3
        first = solutions.first
        body = first.locator("div.cell, p:not(.admonition-title)").first  # not its title
        first.scroll_into_view_if_needed()
        assert not body.is_visible(), f"{doc}: a solution is visible before it is clicked"
        first.locator("button.toggle-button").click()
        body.wait_for(state="visible", timeout=5000)

    check_links(page, url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{Path(doc).name}.png"), full_page=True)
    page.close()
