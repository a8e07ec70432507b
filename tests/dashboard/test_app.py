"""The dashboard on a database built by real small searches: AppTest per page, then one real browser.

The module database: study "s" (exhaustive + sensitivity, latency objective, latency-torch) and study
"m" (sensitivity, MACs objective, accuracy on 50 images) searched from a folder where the
checkpoint is models/tiny (a relative path in the study's record, as `explorer search --checkpoint
models/...` from a project root writes), plus one real trial row of "m" that no evaluator measured
(as an interrupted search leaves)."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from explorer.cli import main
from explorer.deploy.bundle import read_bundle

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
VIEWS = ["Studies", "Trade-offs", "Evaluations", "Trial", "Compare", "Strategies", "Blocks", "Runtime"]
TABLE1 = Path(__file__).resolve().parents[2] / "docs" / "data" / "table1-r20.json"  # a real simulated run
UNMEASURED = {}  # the trial of "m" without a measurement under m's settings: its configuration


def add_unmeasured_trial(path: Path) -> None:
    """A real trial row of "m" for a configuration whose accuracy was measured for s (on 100 images)
    but not under m's settings (50 images): what an interrupted search leaves."""
    con = sqlite3.connect(path)
    (sid,) = con.execute("select id from explorer_studies where name = 'm'").fetchone()
    (config,) = con.execute(
        "select min(config) from evaluations where evaluator = 'accuracy' and config not in "
        "(select config from evaluations where evaluator = 'accuracy' and context like '%limit=50%')"
    ).fetchone()
    con.execute("insert into explorer_trials (study_id, strategy, config, seq, created_at) values (?, 'random', ?, 0, "
                "datetime('now'))", (sid, config))  # fmt: skip
    con.commit()
    con.close()
    UNMEASURED["config"] = config


@pytest.fixture(scope="module")
def db(tmp_path_factory, tiny_ckpt):
    root = tmp_path_factory.mktemp("dash")
    (root / "models").mkdir()
    (root / "models" / "tiny").symlink_to(tiny_ckpt, target_is_directory=True)
    url = f"sqlite:///{root}/d.db"
    here = os.getcwd()
    os.chdir(root)  # the study records models/tiny, relative to the folder the search ran in
    try:
        for strategy in ("exhaustive", "sensitivity"):
            main(["search", "--checkpoint", "models/tiny", "--strategy", strategy, "--limit", "100",
                  "--latency-evaluator", "latency-torch", "--db", url, "--study", "s", "--no-progress"])  # fmt: skip
        main(["search", "--checkpoint", "models/tiny", "--strategy", "sensitivity", "--limit", "50",
              "--objective", "macs", "--db", url, "--study", "m", "--no-progress"])  # fmt: skip
    finally:
        os.chdir(here)
    add_unmeasured_trial(root / "d.db")
    return url


def copy_db(url: str, to: Path) -> None:
    """A consistent copy of a SQLite database in WAL mode (the file alone may lack recent pages)."""
    src, dst = sqlite3.connect(url.removeprefix("sqlite:///")), sqlite3.connect(to)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()


def app(db_url: str, *extra: str, query: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    sys.argv = ["app", "--db", db_url, *extra]
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def ok(at):
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def go(at, page: str):
    at.sidebar.radio(key="page").set_value(page).run()
    return ok(at)


def shown(el):
    """What a table shows (the Styler's display strings: decimals, "—"), as a DataFrame."""
    from streamlit import dataframe_util

    values = dataframe_util.convert_arrow_bytes_to_pandas_df(el.proto.arrow_data.styler.display_values)
    values.columns = el.value.columns
    return values


def figure(at, i: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def caption(at, start: str) -> str:
    return next(c.value for c in at.caption if c.value.startswith(start))


def test_every_page_renders_and_front_is_one_front(db):
    at = ok(app(db))
    studies = at.dataframe[0].value.set_index("study")
    assert sorted(studies.index) == ["m", "s"] and studies.loc["s", "configurations stored"] == 64
    assert studies.loc["s", "strategies"] == "exhaustive, sensitivity"
    # defect 5: what a view leaves out is visible (m: one trial has no MACs)
    assert studies.loc["m", "configurations stored"] == studies.loc["m", "configurations shown"] + 1
    # defect 8: the summaries (every study read) are one toggle; on by default for a small database
    assert at.toggle(key="studies_summary").value is True
    at.toggle(key="studies_summary").set_value(False).run()
    lean = ok(at).dataframe[0].value
    assert "front" not in lean and "configurations shown" not in lean and len(lean) == 2
    assert caption(at, "Front size and hypervolume are left out")
    at.toggle(key="studies_summary").set_value(True).run()
    go(at, "Trade-offs")
    at.sidebar.selectbox(key="study").set_value("s").run()
    front = ok(at).dataframe[0].value
    assert len(front) >= 2
    assert front["latency (ms)"].is_monotonic_increasing and front["accuracy (%)"].is_monotonic_increasing
    # defect 5: every configuration credited to every strategy that asked for it
    assert "exhaustive, sensitivity" in front["found by"].tolist()  # 000000: both asked for it
    go(at, "Blocks")
    blocks = at.dataframe[0].value
    assert len(blocks) == 6 and "sensitivity: skipped at step" in blocks
    assert sorted(blocks["sensitivity: skipped at step"].dropna().astype(int)) == [1, 2, 3, 4, 5, 6]
    heat = figure(at)["data"][0]
    assert len(heat["z"]) == len(front)  # defect 5: one front (20 on Trade-offs vs 22 on Blocks before)
    ticks = figure(at)["layout"]["yaxis"]["ticktext"]
    by_accuracy = front.sort_values("accuracy (%)", ascending=False)
    assert ticks == [f"{c} ({a:.2f} %)" for c, a in zip(by_accuracy["config"], by_accuracy["accuracy (%)"])]
    assert heat["colorbar"]["ticktext"] == ["skipped", "executed"]  # defect 6: yes/no, not a 0–1 scale
    go(at, "Strategies")
    table = at.dataframe[0].value.set_index("strategy")
    assert set(table.index) == {"exhaustive", "sensitivity"}
    assert table.loc["exhaustive", "÷ exhaustive"] == 1.0
    assert any(c.startswith("hypervolume (ref. point") for c in table)  # defect 6: its reference point
    go(at, "Evaluations")
    evals = at.dataframe[0].value
    assert len(evals) == 64 and evals["on front"].sum() == len(front)
    go(at, "Compare")
    assert [t["name"] for t in figure(at)["data"]] == ["s: all", "s: front", "m: all", "m: front"]
    for page in ("Trial", "Runtime", "Export"):
        go(at, page)


def test_filters_belong_to_study_and_cost_axis(db):
    """Defect 1: a limit on one cost axis does not survive a change of axis or study; the cost axis
    opens on the study's objective; a filter that hides everything says so."""
    at = app(db, query={"page": "Trade-offs", "study": "s"})
    assert at.sidebar.selectbox(key="cost|s|None").value == "latency_ms"
    total = caption(at, "64 configurations shown of 64")
    assert "latency (ms): latency-torch (" in total  # the evaluator that measured the cost, from the stored rows
    at.sidebar.number_input(key="max_cost|s|None|latency_ms").set_value(0.0).run()
    assert caption(at, "0 configurations shown of 64")
    assert "No evaluation passes the filters" in at.warning[0].value and "maximum latency (ms)" in at.warning[0].value
    at.sidebar.selectbox(key="cost|s|None").set_value("macs").run()
    assert caption(at, "64 configurations shown of 64") and not at.warning  # the latency limit is gone
    assert at.sidebar.number_input(key="max_cost|s|None|macs").label == "Maximum MACs (millions)"
    at.sidebar.slider(key="skipped|s|None").set_value((0, 1)).run()
    assert caption(at, "7 configurations shown of 64")  # the full depth + 6 single skips
    at.sidebar.selectbox(key="study").set_value("m").run()
    assert at.sidebar.selectbox(key="cost|m|None").value == "macs"  # m was searched on MACs
    m_total = at.caption[0].value.split()[0]
    assert at.caption[0].value.startswith(f"{m_total} configurations shown of {m_total}")
    # defect 5: m's unmeasured trial is reported, with the evaluator that is missing
    assert any("1 of the study's trials are left out" in w.value and "1 lack accuracy" in w.value for w in at.warning)
    # defect 6: units on the axes, a titled legend, one colour per strategy, the reference on top
    fig = figure(at)
    assert fig["layout"]["xaxis"]["title"]["text"] == "MACs (millions)"
    assert fig["layout"]["yaxis"]["title"]["text"] == "accuracy (%)"
    assert fig["layout"]["legend"]["title"]["text"] == "strategy"
    assert fig["data"][-1]["name"] == "full depth (reference)"
    assert "flops" in at.caption[0].value and "latency" not in at.caption[0].value.split("MACs (millions):")[1]
    at.sidebar.selectbox(key="study").set_value("s").run()
    assert at.sidebar.selectbox(key="cost|s|None").value == "latency_ms"  # back on s: its own objective
    assert caption(at, "64 configurations shown of 64")
    colours = [t["marker"]["color"] for t in figure(at)["data"] if t.get("mode") == "markers"]
    assert len(set(colours)) == len(colours)  # distinct colours (strategies + reference)
    # defect 6: accuracy with 2 decimals, "—" for a missing value
    acc = shown(at.dataframe[0])["accuracy (%)"]
    assert all(len(v.split(".")[1]) == 2 for v in acc)


def test_left_out_trials_and_missing_values(db):
    at = app(db, query={"page": "Strategies", "study": "m"})
    table = at.dataframe[0].value.set_index("strategy")
    assert table.loc["random", "trials stored"] == 1 and table.loc["random", "left out (a metric missing)"] == 1
    assert table.loc["sensitivity", "left out (a metric missing)"] == 0
    assert set(shown(at.dataframe[0])["÷ exhaustive"]) == {"—"}  # no exhaustive search here: "—", not "None"
    go(at, "Evaluations")
    assert at.dataframe[1].value[["strategy", "config", "not measured by"]].values.tolist() == [
        ["random", UNMEASURED["config"], "accuracy"]
    ]


def test_url_opens_page_study_and_configuration(db):
    at = ok(app(db, query={"page": "Trial", "study": "m", "config": "111111"}))
    assert at.sidebar.radio(key="page").value == "Trial" and at.sidebar.selectbox(key="study").value == "m"
    assert at.selectbox(key="trial|m").value == "111111"
    records = at.dataframe[1].value
    assert {"accuracy (%)", "MACs (millions)"} <= set(records["metric"])
    assert "explorer evaluate --checkpoint models/tiny --skip 111111" in at.code[0].value
    go(at, "Blocks")
    assert at.query_params["page"] == "Blocks" and at.query_params["study"] == "m"
    assert "config" not in at.query_params


def test_read_only_serves_the_views_only(db):
    """Defect 7: --read-only serves no Run and no Export page, not even by URL."""
    at = app(db, "--read-only", query={"page": "Export"})
    assert at.sidebar.radio(key="page").options == VIEWS
    assert "not served" in at.warning[0].value and "read-only" in at.warning[0].value
    assert at.header[0].value == "Studies"


def test_cli_warns_when_listening_beyond_loopback(db):
    def first_lines(*extra):
        proc = subprocess.Popen(
            [sys.executable, "-m", "explorer.cli", "dashboard", "--db", db, "--port", str(_free_port()), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            out = proc.stdout.readline()  # printed just before the process becomes the server
        finally:
            os.killpg(proc.pid, 15)
        return out, proc.communicate(timeout=30)[1]

    out, err = first_lines("--host", "0.0.0.0")
    assert "warning: --host 0.0.0.0 serves the Run page" in err and "add --read-only" in err
    out, err = first_lines("--host", "0.0.0.0", "--read-only")
    assert "read-only" in out and "warning: --host" not in err


def test_export_builds_the_studys_bundle_and_forgets_it_on_a_change(db, tmp_path):
    """Defects 2 and 3: the checkpoint comes from the study's record (models/tiny, relative to where
    the search ran, not to this process's folder), and the zip is for the study shown."""
    assert not Path("models/tiny").exists()  # this process runs elsewhere
    at = app(db, query={"page": "Export", "study": "s"})
    ok(at)
    at.button(key="export_build").click().run()
    ok(at)
    data = at.session_state["export_zip"]["data"]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        z.extractall(tmp_path / "b")
    bundle = read_bundle(tmp_path / "b")
    assert bundle.num_gates == 6 and (tmp_path / "b" / "model.vmfb").is_file()
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["pareto"]["study"] == "s"

    def labels():
        return [b.proto.label for b in at.get("download_button")]

    assert labels() == ["Download CSV", "Download JSON", "Download bundle.zip"]  # the front, the bundle
    at.sidebar.selectbox(key="study").set_value("m").run()
    assert labels() == ["Download CSV", "Download JSON"]  # s's zip is not offered under m's name
    assert "built before was for s" in at.info[0].value
    # a copy of the database elsewhere: its checkpoint is not on this machine, said without a CLI hint
    (tmp_path / "elsewhere").mkdir()
    copy_db(db, tmp_path / "elsewhere" / "d.db")
    at = app(f"sqlite:///{tmp_path}/elsewhere/d.db", query={"page": "Export", "study": "s"})
    assert "is not on this machine" in at.error[0].value and "--checkpoint" not in at.error[0].value
    assert at.button(key="export_build").disabled


def test_runtime_picks_files_and_a_bad_file_is_one_message(db, tmp_path):
    """Defect 4: files come from a list; a malformed Table I file is one message, never a traceback,
    and the rest of the page stays."""
    shutil.copy(TABLE1, tmp_path / "table1-r20.json")
    bad = {"list.json": "[1, 2]", "no-columns.json": '{"b": [{"method": "x"}]}', "number.json": '{"b": 5}'}
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00\x81")
    at = app(db, "--runs", str(tmp_path), query={"page": "Runtime"})
    picker = at.selectbox(key=f"table1|{tmp_path}")
    assert picker.options == ["(none)", "binary.json", "list.json", "no-columns.json", "number.json", "table1-r20.json"]
    picker.set_value("table1-r20.json").run()
    ok(at)
    rows = at.dataframe[0].value
    assert rows["method"].tolist() == ["Original", "Ours (Algorithm 1)", "Ours (rate-fit)", "SkipNet"]
    assert rows["processed (×)"].iloc[0] == 1.0 and rows["processed (×)"].iloc[1] > 1.0
    assert rows["accuracy (%)"].iloc[0] > 1  # defect 6: percent, as everywhere
    # mean counts of repeated simulations, one format (was "159" beside "203.6")
    assert shown(at.dataframe[0])["processed (count)"].tolist() == [f"{v:,.1f}" for v in rows["processed (count)"]]
    for name in ("binary.json", *bad):
        at.selectbox(key=f"table1|{tmp_path}").set_value(name).run()
        assert not at.exception and len(at.error) == 1, name
        assert at.error[0].value.startswith(f"{name} is not a Table I file"), at.error[0].value
        assert at.selectbox(key=f"run|{tmp_path}")  # the rest of the page is still there


def test_runtime_shows_a_saved_live_run(db, tiny_bundle, tmp_path):
    """A run saved by `explorer serve --out` (real IREE module) is listed, drawn and summarised."""
    main(["serve", "--bundle", str(tiny_bundle), "--requests", "40", "--period", "0.7x",
          "--out", str(tmp_path / "runs" / "live")])  # fmt: skip
    saved = json.loads((tmp_path / "runs" / "live" / "summary.json").read_text())
    at = app(db, "--runs", str(tmp_path / "runs"), query={"page": "Runtime"})
    picker = at.selectbox(key=f"run|{tmp_path / 'runs'}")
    assert picker.options == ["(none)", "live"]
    picker.set_value("live").run()
    ok(at)

    def points(xs):  # plotly 6 writes numeric arrays as {"dtype", "bdata"} (base64)
        return len(np.frombuffer(base64.b64decode(xs["bdata"]), xs["dtype"])) if isinstance(xs, dict) else len(xs)

    assert sum(points(t["x"]) for t in figure(at)["data"]) == 40  # a point per request, processed or dropped
    summary = dict(zip(*at.dataframe[0].value.T.values))
    assert summary["engine"] == "live" and summary["requests (count)"] == "40"
    assert summary["accuracy (%)"] == f"{100 * saved['accuracy']:.2f}"


def test_run_page_queues_a_search_that_a_worker_completes(tmp_path, tiny_ckpt):
    from explorer.storage import Database

    url = f"sqlite:///{tmp_path}/r.db"
    Database(url)  # an empty database: queuing is possible before any study exists
    at = go(app(url), "Run")
    at.text_input(key="run_ckpt").input(str(tiny_ckpt))
    at.text_input(key="run_study").input("queued")
    at.selectbox(key="run_strategy").set_value("sensitivity")
    at.selectbox(key="run_objective").set_value("macs")
    at.number_input(key="run_limit").set_value(100).run()  # the Queue button enables once both are filled
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
    assert "heartbeat age (s)" in at.dataframe[1].value


def test_a_database_of_a_newer_schema_is_one_clear_message(tmp_path):
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
def test_real_browser(db, tmp_path):
    """One browser session: a link opens page and study; the front and its axes are drawn; the
    Blocks heat map labels every row; a page other than Studies refreshes while the database changes."""
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    live = tmp_path / "live.db"  # a copy the test writes to (the module database stays as it is)
    copy_db(db, live)
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "explorer.cli", "dashboard", "--db", f"sqlite:///{live}", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(
        service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")), options=opts
    )
    chart = "[data-testid='stPlotlyChart']"
    try:
        deadline = time.time() + 180  # a loaded 2-core machine: the server's imports take a while
        while time.time() < deadline:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        # an element replaced by a redraw while it is read is not there yet: the wait tries again
        wait = WebDriverWait(driver, 120, ignored_exceptions=(StaleElementReferenceException,))
        driver.get(f"http://127.0.0.1:{port}/?page=Trade-offs&study=m")
        wait.until(lambda d: d.find_elements(By.XPATH, "//h2[starts-with(., 'Trade-offs')]"))
        points = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"{chart} .scatterlayer .point"))
        assert len(points) >= 2
        lines = driver.find_elements(By.CSS_SELECTOR, f"{chart} .scatterlayer .js-line")
        assert lines and all(line.get_attribute("d") for line in lines)  # the front's step line has a path
        titles = [t.text for t in driver.find_elements(By.CSS_SELECTOR, f"{chart} .xtitle, {chart} .ytitle")]
        assert titles == ["MACs (millions)", "accuracy (%)"]
        assert driver.find_element(By.CSS_SELECTOR, f"{chart} .legendtitletext").text == "strategy"
        shots = Path(os.environ.get("EXPLORER_SCREENSHOTS", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shots / "tradeoffs.png"))
        assert (shots / "tradeoffs.png").stat().st_size > 10_000
        driver.get(f"http://127.0.0.1:{port}/?page=Blocks&study=s")
        # the heat map's labels, read once the chart stops being redrawn (a redraw replaces them)
        rows = wait.until(lambda d: [t.text for t in d.find_elements(By.CSS_SELECTOR, f"{chart} .ytick text")])
        assert len(rows) >= 2 and rows[0].endswith(" %)") and len(set(rows)) == len(rows)
        heat = driver.execute_script(
            "return document.querySelector(\"[data-testid='stPlotlyChart'] .js-plotly-plot\").data[0].z.length"
        )
        assert heat == len(rows)  # every row of the heat map has its label
        count = driver.find_element(By.XPATH, "//*[contains(text(), ' trials · ')]").text
        con = sqlite3.connect(live)  # a search writes a trial: the open page follows without a click
        con.execute("insert into explorer_trials (study_id, strategy, config, seq, created_at) "
                    "select id, 'random', '011011', 1, datetime('now') from explorer_studies where name = 's'")  # fmt: skip
        con.commit()
        con.close()
        WebDriverWait(driver, 60).until(
            lambda d: d.find_element(By.XPATH, "//*[contains(text(), ' trials · ')]").text != count
        )
        assert "?page=Blocks" in driver.current_url and "study=s" in driver.current_url
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_the_dashboards_rankers_are_the_registrys():
    from explorer.dashboard.queries import RANKERS
    from explorer.search import STRATEGIES, strategies_in_all

    assert list(RANKERS) == [n for n in strategies_in_all() if STRATEGIES[n].kind == "ranker"]
