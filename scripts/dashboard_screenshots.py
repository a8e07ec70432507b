"""Screenshots of every dashboard page for docs/img, with Debian's headless chromium.

python scripts/dashboard_screenshots.py --db sqlite:///docs/data/report.db --run RUN_FOLDER \
    --table1 docs/data/table1-r20.json --out docs/img
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

PAGES = ("Studies", "Trade-offs", "Strategies", "Blocks", "Runtime", "Run", "Export")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--run", default=None, help="a saved runtime run folder for the Runtime page")
    ap.add_argument("--table1", default=None, help="Table I rows (explorer table1 --out) for the Runtime page")
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "explorer.cli", "dashboard", "--db", args.db, "--port", str(args.port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1100"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(service=webdriver.ChromeService(shutil.which("chromedriver")), options=opts)
    try:
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", args.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        driver.get(f"http://127.0.0.1:{args.port}")
        wait = WebDriverWait(driver, 120)
        args.out.mkdir(parents=True, exist_ok=True)
        for page in PAGES:
            xpath = f"//label[.//p[text()='{page}']]"
            wait.until(lambda d, x=xpath: d.find_elements(By.XPATH, x))
            driver.find_element(By.XPATH, xpath).click()
            time.sleep(4)
            if page == "Runtime":
                for label, value in (("Table I rows", args.table1), ("Run folder", args.run)):
                    if value:
                        css = f"input[aria-label^='{label}']"
                        box = wait.until(lambda d, c=css: d.find_elements(By.CSS_SELECTOR, c))[0]
                        box.send_keys(value, Keys.ENTER)
                        time.sleep(4)
            name = page.lower().replace("-", "")
            driver.save_screenshot(str(args.out / f"dashboard-{name}.png"))
            print("saved", args.out / f"dashboard-{name}.png")
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
