"""Make docs/run-page.png: the README's first command in a temporary folder, the sessions
run with --html, and its page in headless Chromium (Debian's chromium and chromium-driver).

    .venv/bin/python docs/make_run_page_screenshot.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "session_import"]


def sample_run_page(folder: Path) -> Path:
    db = folder / "session-import.db"
    subprocess.run([*COMMAND, "init", "--db", db], check=True, capture_output=True)
    page = folder / "run.html"
    for step in ("trainings", "teachers", "groups", "sessions"):
        extra = ["--html", page, "--diff"] if step == "sessions" else []
        subprocess.run(
            [
                *COMMAND,
                "run",
                "--db",
                db,
                *extra,
                f"sample_configs/{step}.xml",
                f"sample_data/{step}.csv",
            ],
            cwd=ROOT,
            capture_output=True,
        )
    return page


def screenshot(page: Path, target: Path) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(page.as_uri())
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, height)
        driver.save_screenshot(str(target))
    finally:
        driver.quit()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        screenshot(sample_run_page(Path(tmp)), ROOT / "docs" / "run-page.png")
