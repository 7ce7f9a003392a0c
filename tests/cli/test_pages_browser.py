"""The pages in a real browser: headless Chromium (Debian's chromium and chromium-driver)
driven by selenium. The counts shown are the JSON report's, the table filters and sorts,
no script error is logged, hostile titles show as text and open no dialog; each page is
screenshotted under the test's temporary folder.

Without a browser these tests are skipped, unless SESSION_IMPORT_REQUIRE_BROWSER=1 (CI
sets it): then they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from hostile_runs import HOSTILE_SCRIPT, HOSTILE_TITLE, hostile_run, large_report

from session_import.pages import write_run_page

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _find(names) -> str | None:
    for name in names:
        found = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
        )
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    binary, driver_path = _find(BROWSERS), _find(("chromedriver",))
    if binary is None or driver_path is None:
        missing = "chromium" if binary is None else "chromedriver"
        why = f"{missing} is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("SESSION_IMPORT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SESSION_IMPORT_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def open_page(driver, page: Path) -> float:
    driver.get_log("browser")  # what earlier pages logged
    started = time.monotonic()
    driver.get(page.resolve().as_uri())
    return time.monotonic() - started


def assert_clean(driver, shot: Path) -> None:
    """No dialog opened, nothing logged at all (a script error, a refused request, a policy
    violation), and a screenshot of the whole page."""
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    assert driver.get_log("browser") == []
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 800), 8000))
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_run_page_in_a_browser(ws, browser, tmp_path):
    page, report, _ = hostile_run(ws, "--diff")
    open_page(browser, page)
    (entry,) = report["files"]
    totals = {
        e.get_attribute("data-count"): int(e.text)
        for e in browser.find_elements(By.CSS_SELECTOR, "#totals [data-count]")
    }
    assert totals == entry["counts"]
    section = browser.find_element(By.CSS_SELECTOR, "section.file")
    shown = {
        e.get_attribute("data-count"): int(e.text)
        for e in section.find_elements(By.CSS_SELECTOR, ".file-counts [data-count]")
    }
    assert shown == entry["counts"]
    assert browser.find_element(By.ID, "exit-code").text.startswith(f"{report['exit_code']}:")

    # hostile text shows as written, as text: no element was made of it
    assert browser.find_elements(By.CSS_SELECTOR, "img") == []
    assert len(browser.find_elements(By.TAG_NAME, "script")) == 1
    table = section.find_element(By.CSS_SELECTOR, "table.rows")
    values = table.find_element(By.CSS_SELECTOR, "tbody").text
    assert f"A {HOSTILE_TITLE}" in values and f"B {HOSTILE_SCRIPT}" in values
    assert browser.find_element(By.ID, "files").text.endswith("<b>night</b>.csv")

    def visible_lines() -> list[int]:
        return [
            int(r.get_attribute("data-line"))
            for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")
            if r.is_displayed()
        ]

    assert visible_lines() == [r["line"] for r in entry["rejected"]]
    # filter by the reason of the unknown teachers: its rows, as many as the reason counts
    reason = Select(section.find_element(By.CSS_SELECTOR, "select.reason-filter"))
    teacher = next(o for o in reason.options if o.text.startswith("Teacher with login"))
    reason.select_by_value(teacher.get_attribute("value"))
    expected = [
        r["line"]
        for r in entry["rejected"]
        if any(m.startswith("Teacher with login") for m in r["messages"])
    ]
    assert visible_lines() == expected and len(expected) == 3
    assert section.find_element(By.CSS_SELECTOR, ".shown").text == "1–3 of 3 rows"
    # and by text
    search = section.find_element(By.CSS_SELECTOR, "input.text-filter")
    search.send_keys("ghost")
    assert visible_lines() == [5]
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.BACKSPACE)
    reason.select_by_value("")
    assert visible_lines() == [r["line"] for r in entry["rejected"]]
    # sorted by line, descending
    line_button = table.find_element(By.CSS_SELECTOR, "button.sort[data-key=line]")
    line_button.click()
    line_button.click()
    assert visible_lines() == sorted((r["line"] for r in entry["rejected"]), reverse=True)
    assert_clean(browser, tmp_path / "run-page.png")


def test_history_page_in_a_browser(ws, browser, tmp_path):
    hostile_run(ws)
    page = ws.root / "nights.html"
    assert ws.run("history", "--html", page).exit_code == 0
    runs = json.loads(ws.run("history", "--format", "json").stdout)
    session_run = next(r for r in runs if r["import_id"] == "sessions")
    open_page(browser, page)
    section = browser.find_element(By.CSS_SELECTOR, 'section[data-import="sessions"]')
    night = section.find_element(By.CSS_SELECTOR, "tbody.night")
    assert night.find_element(By.CSS_SELECTOR, ".night-sum").text.startswith(
        f"{session_run['counts']['rows']} rows, {session_run['counts']['rejected']} rejected"
    )
    journal = browser.find_element(By.ID, f"run-{session_run['id']}")
    assert journal.get_attribute("open") is None
    section.find_element(By.LINK_TEXT, f"run {session_run['id']}").click()
    assert journal.get_attribute("open") == "true"
    lines = ws.run("history", str(session_run["id"])).stdout.splitlines()
    assert [li.text for li in journal.find_elements(By.CSS_SELECTOR, "li")] == lines
    assert any(HOSTILE_TITLE in line for line in lines) and any(
        HOSTILE_SCRIPT in line for line in lines
    )
    assert browser.find_elements(By.CSS_SELECTOR, "img") == []
    assert_clean(browser, tmp_path / "history-page.png")


@pytest.mark.slow
def test_a_page_of_100k_rejected_rows_opens_in_a_few_seconds(browser, tmp_path):
    page = tmp_path / "large.html"
    write_run_page(large_report(100_000), page)
    seconds = open_page(browser, page)
    assert seconds < 10, f"{seconds:.1f} s"
    rows = browser.find_elements(By.CSS_SELECTOR, "table.rows tbody tr:not([hidden])")
    assert len(rows) == 50
    shown = browser.find_element(By.CSS_SELECTOR, ".shown").text
    assert shown.startswith("1–50 of ") and shown.endswith(" rows")
    browser.find_element(By.CSS_SELECTOR, "button.next").click()
    assert browser.find_element(By.CSS_SELECTOR, ".shown").text.startswith("51–100 of ")
    assert_clean(browser, tmp_path / "large-page.png")
