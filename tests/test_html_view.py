"""The offline HTML view, loaded in headless Chromium through chromedriver.

Set ``TATER_GRAPH_SCREENSHOT`` to a path to keep the screenshot this test
takes (the one in ``docs/img/html-view.png`` comes from this test).
"""

from __future__ import annotations

import os
import shutil

import pytest
from export_fixtures import TRICKY_STEPS, build_tricky_graph

from tater_graph.errors import ExportError
from tater_graph.export import problem_graph
from tater_graph.export.html import HTML_MAX_NODES, render_html, write_html
from tater_graph.store.database import Database

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

# The machine has no network: without these flags Chromium keeps trying to reach its services.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,900")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless Chromium is not installed: apt-get install chromium chromium-driver",
)


@pytest.fixture
def tricky_graph(tmp_path):
    problem_id, _ = build_tricky_graph(tmp_path / "graph.duckdb")
    with Database(tmp_path / "graph.duckdb", read_only=True) as db:
        return problem_graph(db, problem_id)


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install '.[test]'")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@needs_chromium
@pytest.mark.slow
def test_html_view_renders_in_chromium(browser, tricky_graph, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    page = write_html(tricky_graph, tmp_path / "view.html")
    browser.get(page.as_uri())

    assert browser.execute_script("return window.taterGraph.nodes().length") == tricky_graph.number_of_nodes()
    assert browser.execute_script("return window.taterGraph.edges().length") == tricky_graph.number_of_edges()
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-rendered-nodes") == "8"
    visible = browser.execute_script(
        "var box = document.getElementById('graph').getBoundingClientRect();"
        "return window.taterGraph.nodes().filter(function (n) { var b = n.renderedBoundingBox();"
        " return b.w > 0 && b.x1 >= 0 && b.y1 >= 0 && b.x2 <= box.width && b.y2 <= box.height; }).length")
    assert visible == tricky_graph.number_of_nodes()
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []

    target = next(node for node, data in tricky_graph.nodes(data=True) if data["step_text"] == TRICKY_STEPS[1])
    x, y = browser.execute_script(f"var p = window.taterGraph.$id('{target}').renderedPosition(); return [p.x, p.y]")
    container = browser.find_element(By.ID, "graph")
    ActionChains(browser).move_to_element_with_offset(
        container, int(x - container.size["width"] / 2), int(y - container.size["height"] / 2)).click().perform()

    assert browser.execute_script("return document.getElementById('step-text').textContent") == TRICKY_STEPS[1]
    stats = browser.execute_script("return document.getElementById('stats').innerText")
    assert "visits\t2" in stats

    screenshot = tmp_path / "html-view.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("TATER_GRAPH_SCREENSHOT"):
        shutil.copyfile(screenshot, os.environ["TATER_GRAPH_SCREENSHOT"])


def test_html_page_is_self_contained(tricky_graph):
    page = render_html(tricky_graph)

    assert "cytoscape" in page
    assert "<script src" not in page
    assert "default-src 'none'" in page
    assert page.count("</script>") == 3


def test_html_page_escapes_script_end_in_text(tricky_graph):
    tricky_graph.nodes[1]["step_text"] = "</script><script>alert(1)</script>"

    page = render_html(tricky_graph)

    assert "alert(1)</script>" not in page
    assert page.count("</script>") == 3


def test_html_rejects_huge_graph(tmp_path):
    import networkx as nx

    graph = nx.path_graph(HTML_MAX_NODES + 1, create_using=nx.DiGraph)

    with pytest.raises(ExportError, match=f"{HTML_MAX_NODES + 1} nodes"):
        write_html(graph, tmp_path / "big.html")

    assert list(tmp_path.iterdir()) == []
