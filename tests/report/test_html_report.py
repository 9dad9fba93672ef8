"""``report.html`` (:mod:`marlrec.report.html_report`): one self-contained page built from a
``scores.json``. Without a browser: the file, its references and its tables' numbers (those
of the committed ``report.md``), and an older ``scores.json`` without curves, ranking or
stored aggregates. With a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium; skipped where they are not installed): no console
error, every section and chart rendered, hover and legend clicks, no network request, a
screenshot that is not blank."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import pytest

from marlrec.report.experiment_report import load_scores
from marlrec.report.html_report import (
    CHART_IDS,
    chart_ids,
    external_references,
    main,
    write_html_report,
)

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "docs" / "results" / "quickstart"

# the quickstart report's sections and charts (it has an offline ranking, no cold start)
QUICKSTART_SECTIONS = (
    "Absolute metric: engagement_per_session",
    "Probability of improvement",
    "Every headline metric (mean over runs [95% CI])",
    "Offline ranking on held-out MovieLens-100k ratings (k = 10)",
    "Evaluations during training (engagement_per_session: mean over runs (each run))",
    "Performance profiles",
)
QUICKSTART_CHARTS = ("absolute-metric-chart", "probability-of-improvement-chart",
                     "tradeoff-chart", "learning-curves-chart", "performance-profile-chart")


@pytest.fixture(scope="module")
def quickstart_page(tmp_path_factory) -> Path:
    """``report.html`` of the committed quickstart ``scores.json``, written beside a copy
    of it (the report's own bootstrap resamples: the numbers of ``report.md``)."""
    folder = tmp_path_factory.mktemp("quickstart") / "report"
    folder.mkdir()
    shutil.copy(QUICKSTART / "scores.json", folder / "scores.json")
    return write_html_report(folder)


def _cells(page: str) -> set[str]:
    return {c.strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", page, flags=re.S)}


def _markdown_rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows of the first table after ``heading`` in a ``report.md``."""
    lines = markdown.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    return [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]


# ----------------------------------------------------------------------------- no browser


def test_page_is_one_file_without_external_references(quickstart_page):
    page = quickstart_page.read_text(encoding="utf-8")
    assert sorted(p.name for p in quickstart_page.parent.iterdir()) == [
        "report.html", "scores.json"]  # no temporary file left behind
    assert external_references(page) == []
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link\b", page)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.split("</head>")[1])
    assert page.count("plotly.js v") == 1  # the plotly.js bundle, inlined once
    assert chart_ids(page) == list(QUICKSTART_CHARTS)


def test_tables_hold_the_numbers_of_report_md(quickstart_page):
    page = quickstart_page.read_text(encoding="utf-8")
    cells = _cells(page)
    saved = load_scores(QUICKSTART / "scores.json")
    first = next(iter(saved.absolute))
    iqm = str(saved.absolute[first]["IQM"])  # "78.3 [77.8, 80.2]" as report.md writes it
    markdown = (QUICKSTART / "report.md").read_text()
    assert f"| {first} | {iqm} |" in markdown
    assert iqm in cells
    for name, by_kind in saved.absolute.items():
        assert name in cells
        assert {str(by_kind[k]) for k in ("IQM", "Mean", "Median")} <= cells
    for heading in ("## Probability of improvement", "## Every headline metric",
                    "## Offline ranking", "## Evaluations during training"):
        rows = _markdown_rows(markdown, heading)
        assert rows, heading
        for row in rows:
            missing = [c for c in row if c not in cells]
            assert not missing, f"{heading}: {row[0]}: {missing} not in report.html"
    assert "Trained by <code>marlrec run experiments/quickstart.yaml</code>" in page


def _older_scores(folder: Path) -> Path:
    """A quickstart ``scores.json`` as an older report wrote it: no curves, no ranking, no
    stored aggregates, no provenance or confirmation; 3 runs of 5 episodes (fast)."""
    data = json.loads((QUICKSTART / "scores.json").read_text())
    for key in ("ranking", "absolute", "probability_of_improvement", "provenance",
                "confirmation", "evaluation_seed", "evaluation_episodes"):
        data.pop(key, None)
    for entry in data["policies"].values():
        entry.pop("curve")
        entry["runs"] = [run[:5] for run in entry["runs"][:3]]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scores.json").write_text(json.dumps(data))
    return folder


def test_older_scores_without_curves_or_ranking(tmp_path, capsys):
    folder = _older_scores(tmp_path / "report")
    (folder / "report.html").write_text("an older page")
    assert main([str(tmp_path), "--reps", "100"]) == 0  # RESULTS_DIR finds its report/
    path = Path(capsys.readouterr().out.strip())
    assert path == folder / "report.html"
    page = path.read_text(encoding="utf-8")
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "scores.json"]
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings == ["Absolute metric: engagement_per_session",
                        "Probability of improvement",
                        "Every headline metric (mean over runs [95% CI])",
                        "Performance profiles"]
    assert chart_ids(page) == ["absolute-metric-chart", "probability-of-improvement-chart",
                               "tradeoff-chart", "performance-profile-chart"]
    assert 'class="provenance"' not in page and "Confirmatory" not in page
    assert external_references(page) == []
    assert "3 runs per policy" in page


def test_missing_metrics_leave_their_sections_out(tmp_path):
    folder = _older_scores(tmp_path)
    data = json.loads((folder / "scores.json").read_text())
    for entry in data["policies"].values():  # only the headline metric was recorded
        entry["runs"] = [[{data["metric"]: e[data["metric"]]} for e in run]
                         for run in entry["runs"]]
    (folder / "scores.json").write_text(json.dumps(data))
    page = write_html_report(folder, tmp_path / "elsewhere" / "page.html", reps=100)
    assert page == tmp_path / "elsewhere" / "page.html"
    text = page.read_text(encoding="utf-8")
    assert chart_ids(text) == ["absolute-metric-chart", "probability-of-improvement-chart",
                               "performance-profile-chart"]
    assert "tradeoff-chart" not in text and "Cold start" not in text


def test_cli_refuses_a_folder_without_scores(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path)])


# ----------------------------------------------------------------------------- browser


def _browser_paths() -> tuple[str, str]:
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser",
                                                  "google-chrome")) if p), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no chromium/chromedriver installed (`apt-get install -y chromium "
                    "chromium-driver`, which `make test` tries): the browser test needs them")
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    browser_path, driver_path = _browser_paths()
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1400,1800", "--hide-scrollbars",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def test_page_in_a_headless_browser(quickstart_page, browser, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(quickstart_page.as_uri())
    rendered = """return Array.from(document.querySelectorAll('.js-plotly-plot'))
        .filter(d => d.querySelector('svg.main-svg') && d.data && d.data.length > 0
                && d._fullLayout).map(d => d.id)"""
    WebDriverWait(browser, 90).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
        and len(d.execute_script(rendered)) == len(QUICKSTART_CHARTS))

    # every section and chart
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert headings == list(QUICKSTART_SECTIONS)
    plots = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
    assert [p.get_attribute("id") for p in plots] == list(QUICKSTART_CHARTS)
    assert sorted(browser.execute_script(rendered)) == sorted(QUICKSTART_CHARTS)
    assert set(QUICKSTART_CHARTS) <= set(CHART_IDS)
    for chart in QUICKSTART_CHARTS:  # each drew its traces
        assert browser.execute_script(
            f"return document.getElementById('{chart}').querySelectorAll("
            "'.scatterlayer .trace, .heatmaplayer .hm, .barlayer .trace').length") > 0, chart

    # hover: a policy's value and its 95% CI
    first = next(iter(load_scores(QUICKSTART / "scores.json").absolute))
    hover = browser.execute_script("""
        const gd = document.getElementById('absolute-metric-chart');
        gd.scrollIntoView();
        Plotly.Fx.hover(gd, [{curveNumber: 0, pointNumber: 0}], 'xy');
        const label = gd.querySelector('.hoverlayer');
        return label ? label.textContent : '';""")
    assert first in hover and "IQM" in hover and "95% CI [" in hover, hover
    curve_hover = browser.execute_script("""
        const gd = document.getElementById('learning-curves-chart');
        const line = gd.data.findIndex(t => t.mode === 'lines+markers');
        Plotly.Fx.hover(gd, [{curveNumber: line, pointNumber: 0}]);
        return gd.querySelector('.hoverlayer').textContent;""")
    assert "95% CI [" in curve_hover and "runs:" in curve_hover, curve_hover

    # a click on a policy in the legend hides its traces in every panel
    legend = browser.find_element(By.CSS_SELECTOR, "#absolute-metric-chart .legend .traces")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", legend)
    ActionChains(browser).move_to_element(legend).click().perform()
    hidden = """return document.getElementById('absolute-metric-chart').data
        .filter(t => t.legendgroup === arguments[0]).map(t => t.visible)"""
    WebDriverWait(browser, 10).until(
        lambda d: d.execute_script(hidden, first) == ["legendonly"] * 3)

    # no console error
    logs = browser.get_log("browser")
    assert [e for e in logs if e["level"] == "SEVERE"] == [], logs

    # no network request: every request the page made is the file itself (or data:)
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            urls.append(message["params"]["request"]["url"]
                        if "request" in message["params"] else message["params"]["url"])
    assert quickstart_page.as_uri() in urls
    assert [u for u in urls if not u.startswith(("file:", "data:", "about:", "blob:"))] == []

    # a screenshot that shows something: text, tables and a chart
    browser.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 24)
    non_white = sum(n for n, c in colours if min(c) < 235) / (image.width * image.height)
    assert len(colours) > 100, len(colours)
    assert non_white > 0.03, non_white
