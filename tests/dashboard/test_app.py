"""The dashboard on a database built by a real small search: AppTest per page, then a real browser."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.deploy.bundle import read_bundle

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture(scope="module")
def db(tmp_path_factory, tiny_ckpt):
    root = tmp_path_factory.mktemp("dash")
    url = f"sqlite:///{root}/d.db"
    for strategy in ("exhaustive", "sensitivity"):
        main(["search", "--checkpoint", str(tiny_ckpt), "--strategy", strategy, "--limit", "200",
              "--latency-evaluator", "latency-torch", "--db", url, "--study", "s"])  # fmt: skip
    return url


def app(db_url: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    sys.argv = ["app", "--db", db_url]
    at.run()
    assert not at.exception, at.exception
    return at


def go(at, page: str):
    at.sidebar.radio(key="page").set_value(page).run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_every_page_renders(db):
    at = app(db)
    studies = at.dataframe[0].value
    assert studies["study"].tolist() == ["s"] and studies["configurations"].iloc[0] == 64
    assert "exhaustive" in studies["strategies"].iloc[0] and "sensitivity" in studies["strategies"].iloc[0]
    go(at, "Trade-offs")
    front = at.dataframe[0].value
    assert len(front) >= 2 and front["accuracy %"].is_monotonic_increasing is False or len(front) >= 1
    go(at, "Strategies")
    table = at.dataframe[0].value
    assert set(table["strategy"]) == {"exhaustive", "sensitivity"}
    assert table.set_index("strategy").loc["exhaustive", "÷ exhaustive"] == 1.0
    go(at, "Blocks")
    blocks = at.dataframe[0].value
    assert len(blocks) == 6 and "sensitivity: skipped at step" in blocks
    assert sorted(blocks["sensitivity: skipped at step"].dropna().astype(int)) == [1, 2, 3, 4, 5, 6]
    go(at, "Run")
    go(at, "Runtime")


def test_filters_change_what_is_shown(db):
    at = go(app(db), "Trade-offs")
    caption = at.caption[0].value
    assert caption.startswith("128 evaluations shown of 128") or " shown of " in caption
    shown_all = int(caption.split()[0])
    at.sidebar.slider(key="skipped").set_value((0, 1)).run()
    shown = int(at.caption[0].value.split()[0])
    assert shown < shown_all  # only configurations with ≤ 1 skipped block remain
    assert set(at.dataframe[0].value["skipped blocks"]) <= {"-", "0", "1", "2", "3", "4", "5"}


def test_export_page_builds_a_valid_bundle(db, tmp_path):
    at = go(app(db), "Export")
    at.button(key="export_build").click().run()
    assert not at.exception
    data = at.session_state["export_zip"]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        z.extractall(tmp_path / "b")
    bundle = read_bundle(tmp_path / "b")
    assert bundle.num_gates == 6 and (tmp_path / "b" / "model.vmfb").is_file()


def test_run_page_queues_a_search_that_a_worker_completes(tmp_path, tiny_ckpt):
    from explorer.storage import Database

    url = f"sqlite:///{tmp_path}/r.db"
    Database(url)  # an empty database: queuing is possible before any study exists
    at = go(app(url), "Run")
    at.text_input(key="run_ckpt").input(str(tiny_ckpt))
    at.text_input(key="run_study").input("queued")
    at.selectbox(key="run_strategy").set_value("sensitivity")
    at.selectbox(key="run_objective").set_value("macs")
    at.number_input(key="run_limit").set_value(200).run()  # the Queue button enables once both are filled
    at.button(key="run_queue").click().run()
    assert not at.exception and "queued" in at.success[0].value
    jobs = at.dataframe[0].value
    assert jobs[["study", "status"]].values.tolist() == [["queued", "queued"]]
    work = subprocess.run([sys.executable, "-m", "explorer.cli", "worker", "--db", url, "--once", "--threads", "1"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert work.returncode == 0, work.stderr[-2000:]
    at.run()
    jobs = at.dataframe[0].value
    assert jobs["status"].tolist() == ["done"] and jobs["configurations"].iloc[0] >= 7  # reference + 6 singles
    assert at.dataframe[1].value["state"].tolist() == ["stopped"]


def test_runtime_page_shows_a_table1_comparison(db):
    table1 = Path(__file__).resolve().parents[2] / "docs" / "data" / "table1-r20.json"  # a real simulated run
    at = go(app(db), "Runtime")
    at.text_input(key="table1_file").input(str(table1)).run()
    assert not at.exception and not at.error
    rows = at.dataframe[0].value
    assert rows["method"].tolist() == ["Original", "Ours (Algorithm 1)", "Ours (rate-fit)", "SkipNet"]
    assert rows["processed_x"].iloc[0] == 1.0 and rows["processed_x"].iloc[1] > 1.0
    at.text_input(key="table1_file").input(str(table1.with_name("nope.json"))).run()
    assert "cannot read Table I rows" in at.error[0].value


def test_a_database_of_a_newer_schema_is_one_clear_message(tmp_path):
    import sqlite3

    from explorer.storage import Database

    Database(f"sqlite:///{tmp_path}/new.db")
    con = sqlite3.connect(tmp_path / "new.db")
    con.execute("update schema_info set version = 999")
    con.commit()
    con.close()
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    sys.argv = ["app", "--db", f"sqlite:///{tmp_path}/new.db"]
    at.run()
    assert not at.exception and "newer than this skip-explorer understands" in at.error[0].value


@pytest.mark.slow
def test_the_app_reads_a_study_on_postgresql(postgres_url, tiny_ckpt):
    main(["search", "--checkpoint", str(tiny_ckpt), "--strategy", "sensitivity", "--limit", "100",
          "--objective", "macs", "--db", postgres_url, "--study", "pg"])  # fmt: skip
    at = app(postgres_url)
    assert at.dataframe[0].value["study"].tolist() == ["pg"]
    go(at, "Trade-offs")
    assert len(at.dataframe[0].value) >= 1  # the front
    go(at, "Strategies")
    assert at.dataframe[0].value["strategy"].tolist() == ["sensitivity"]


def test_missing_database_is_one_clear_message(tmp_path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    sys.argv = ["app", "--db", f"sqlite:///{tmp_path}/none.db"]
    at.run()
    assert not at.exception and "no database file" in at.error[0].value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(
    shutil.which("chromedriver") is None, reason="needs Debian chromium + chromium-driver (.ci/run installs them)"
)
def test_real_browser_draws_the_front(db, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "explorer.cli", "dashboard", "--db", db, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(
        service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")), options=opts
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        driver.get(f"http://127.0.0.1:{port}")
        wait = WebDriverWait(driver, 120)
        wait.until(lambda d: d.find_elements(By.XPATH, "//label[.//p[text()='Trade-offs']]"))
        driver.find_element(By.XPATH, "//label[.//p[text()='Trade-offs']]").click()
        # plotly draws each point as an SVG path in the chart's scatter layer, the front as a line
        points = wait.until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='stPlotlyChart'] .scatterlayer .point")
        )
        assert len(points) >= 2
        lines = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stPlotlyChart'] .scatterlayer .js-line")
        assert lines and all(line.get_attribute("d") for line in lines)  # the front's step line has a path
        time.sleep(1)
        shots = Path(os.environ.get("EXPLORER_SCREENSHOTS", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shots / "tradeoffs.png"))
        assert (shots / "tradeoffs.png").stat().st_size > 10_000
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)
