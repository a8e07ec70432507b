"""Screenshots of every dashboard page for docs/img, with Debian's headless chromium; each page is
opened by its link (?page=...&study=...), as a user's bookmark would.

    cp docs/data/report.db /tmp/report.db
    python benchmarks/dashboard_screenshots.py --db sqlite:////tmp/report.db --runs docs/data --out docs/img
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

# page → (query, file name)
SHOTS = (
    ({"page": "Studies"}, "studies"),
    ({"page": "Trade-offs", "study": "fig6-r56"}, "tradeoffs"),
    ({"page": "Evaluations", "study": "fig6-r56"}, "evaluations"),
    ({"page": "Trial", "study": "fig6-r56"}, "trial"),
    ({"page": "Compare", "study": "bn-r56-sd", "compare": "bn-r56-std"}, "compare"),
    ({"page": "Strategies", "study": "fig6-r56"}, "strategies"),
    ({"page": "Blocks", "study": "fig6-r56"}, "blocks"),
    ({"page": "Runtime"}, "runtime"),
    ({"page": "Run"}, "run"),
    ({"page": "Export", "study": "fig6-r20"}, "export"),
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--runs", default=None, help="folder of saved runs and Table I files (Runtime page)")
    ap.add_argument("--table1", default="table1-r20.json", help="the Table I file picked on the Runtime page")
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "explorer.cli", "dashboard", "--db", args.db, "--port", str(args.port)]
    server = subprocess.Popen(cmd + (["--runs", args.runs] if args.runs else []), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
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
        wait = WebDriverWait(driver, 180)
        args.out.mkdir(parents=True, exist_ok=True)
        for query, name in SHOTS:
            driver.get(f"http://127.0.0.1:{args.port}/?{urlencode(query)}")
            page = query["page"]
            wait.until(lambda d, p=page: d.find_elements(By.XPATH, f"//h2[contains(., '{p.split('-')[0]}')]"))
            time.sleep(3)
            if page == "Runtime" and args.table1:
                box = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stSelectbox'] input")[0]
                box.click()
                box.send_keys(args.table1, Keys.ENTER)
                time.sleep(4)
            wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']"))
            time.sleep(2)
            driver.save_screenshot(str(args.out / f"dashboard-{name}.png"))
            print("saved", args.out / f"dashboard-{name}.png", flush=True)
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
