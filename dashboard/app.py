"""The skip-explorer dashboard: `explorer dashboard --db URL` (or `streamlit run app.py -- --db URL`).

Pages: Studies, Trade-offs, Strategies, Blocks, Runtime, Run, Export. The app only reads the
results database; exports go through the same code as `explorer export`, searches are started as
`explorer search` processes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from explorer.dashboard import queries
from explorer.errors import ExplorerError


def db_url() -> str:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=os.environ.get("EXPLORER_DB", "sqlite:///explore.db"))
    args, _ = ap.parse_known_args(sys.argv[1:])
    return args.db


@st.cache_resource
def database(url: str):
    return queries.open_db(url)


def styled(fig):
    """One fixed, readable style for every chart (used with theme=None: Streamlit's theme would recolour it)."""
    fig.update_layout(template="plotly_white", font={"size": 14}, legend={"title": None},
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})  # fmt: skip
    return fig


def pick_study(db) -> str | None:
    table = queries.studies_table(db)
    if table.empty:
        st.info("This database has no studies yet: run `explorer search --db ...` (or the Run page) first.")
        return None
    names = table["study"].tolist()
    current = st.session_state.get("study")
    return st.sidebar.selectbox("Study", names, index=names.index(current) if current in names else 0, key="study")


def page_studies(db) -> None:
    st.header("Studies")
    table = queries.studies_table(db)
    if table.empty:
        st.info("This database has no studies yet: run `explorer search --db ...` first.")
        return
    hv = []
    for name in table["study"]:
        try:
            hv.append(queries.load(db, name).hypervolume())
        except ExplorerError:
            hv.append(None)
    table.insert(7, "hypervolume", hv)
    st.dataframe(table, hide_index=True, width="stretch")
    if st.toggle("Refresh every 5 s (while a search is running)", key="autorefresh"):
        import time

        time.sleep(5)
        st.rerun()


def page_tradeoffs(db) -> None:
    st.header("Trade-offs")
    study = pick_study(db)
    if study is None:
        return
    devices = queries.devices(db, study)
    device = st.sidebar.selectbox("Latency from", ["this machine (study)"] + devices, key="device")
    view = queries.load(db, study, None if device.startswith("this machine") else device)
    df = queries.evaluations_frame(view)
    if df.empty or "accuracy" not in df:
        st.info(f"Study {study} has no evaluations yet.")
        return
    costs = [c for c in ("latency_ms", "latency_p95_ms", "macs", "energy_mj") if c in df]
    cost = st.sidebar.selectbox("Cost axis", costs, key="cost")
    colour = st.sidebar.radio("Colour by", ["strategy", "skipped"], key="colour")
    min_acc = st.sidebar.slider(
        "Minimum accuracy %", 0.0, 100.0, float(max(0.0, df["accuracy %"].min() - 1)), key="min_acc"
    )
    max_cost = st.sidebar.number_input(f"Maximum {cost}", value=float(df[cost].max()), key="max_cost")
    strategies = st.sidebar.multiselect("Strategies", sorted(df["strategy"].unique()), key="strategies")
    skipped = st.sidebar.slider(
        "Skipped blocks", 0, view.checkpoint.num_gates, (0, view.checkpoint.num_gates), key="skipped"
    )
    sel = df[(df["accuracy %"] >= min_acc) & (df[cost] <= max_cost) & df["skipped"].between(*skipped)]
    if strategies:
        sel = sel[sel["strategy"].isin(strategies)]
    # the front of what is shown, on the chosen cost axis
    pts = sel.drop_duplicates("config").sort_values([cost, "accuracy"], ascending=[True, False])
    front = pts[pts["accuracy"] > pts["accuracy"].cummax().shift(fill_value=-1.0)]
    st.caption(f"{len(sel)} evaluations shown of {len(df)}; {len(front)} on the front of what is shown. "
               f"Accuracy: validation split. {cost}: {view.settings['evaluators'].get(view.latency_evaluator or '', '')}")  # fmt: skip
    hover = {"skipped blocks": True, "accuracy %": ":.2f", cost: ":.4g", "strategy": True}
    if "MMACs" in sel:
        hover["MMACs"] = ":.2f"
    shown = sel.assign(**{colour: sel[colour].astype(str)})  # categorical colours, also for counts
    order = sorted(shown[colour].unique(), key=lambda v: (len(v), v))
    fig = px.scatter(shown, x=cost, y="accuracy %", color=colour, hover_name="config", hover_data=hover,
                     custom_data=["config"], category_orders={colour: order}, opacity=0.75)  # fmt: skip
    fig.add_trace(go.Scatter(x=front[cost], y=front["accuracy %"], mode="lines", line={"shape": "hv", "color": "black"},
                             name="front", hoverinfo="skip"))  # fmt: skip
    fig.update_traces(marker={"size": 9}, selector={"mode": "markers"})
    event = st.plotly_chart(styled(fig), theme=None, width="stretch", on_select="rerun", selection_mode=("points", "box", "lasso"),
                            key="tradeoff_chart")  # fmt: skip
    points = event.selection.points if event and event.selection else []
    picked = [p["customdata"][0] for p in points if p.get("customdata")]
    st.subheader("Selected" if picked else "Front")
    cols = ["config", "skipped blocks", "accuracy %", cost, "strategy"] + (["MMACs"] if "MMACs" in sel else [])
    st.dataframe((sel[sel["config"].isin(picked)] if picked else front)[cols], hide_index=True, width="stretch")


def page_strategies(db) -> None:
    st.header("Strategies")
    study = pick_study(db)
    if study is None:
        return
    view = queries.load(db, study)
    hist = queries.hypervolume_history(view)
    if hist.empty:
        st.info(f"Study {study} has no evaluations yet.")
        return
    fig = px.line(hist, x="evaluations", y="hypervolume", color="strategy", markers=True)
    st.plotly_chart(styled(fig), theme=None, width="stretch", key="strategies_chart")
    st.dataframe(queries.strategy_table(view), hide_index=True, width="stretch")


def page_blocks(db) -> None:
    st.header("Blocks")
    study = pick_study(db)
    if study is None:
        return
    view = queries.load(db, study)
    st.subheader("What each block is worth")
    st.dataframe(queries.block_importance(view), hide_index=True, width="stretch")
    st.subheader("Front configurations × blocks (1 = executed)")
    front = view.front()
    cells = pd.DataFrame(
        [{"config": str(e.config), "accuracy %": round(100 * e["accuracy"], 2), "gate": g, "executed": b}
         for e in front for g, b in enumerate(e.config.bits)]
    )  # fmt: skip
    if not cells.empty:
        grid = cells.pivot_table(index=["accuracy %", "config"], columns="gate", values="executed")
        grid = grid.sort_index(ascending=False)  # most accurate configuration on top
        labels = [f"{c} ({a:.2f}%)" for a, c in grid.index]
        fig = px.imshow(grid.values, x=[str(g) for g in grid.columns], y=labels, color_continuous_scale="Greys",
                        zmin=0, zmax=1, aspect="auto", labels={"x": "gate", "y": "configuration", "color": "executed"})  # fmt: skip
        st.plotly_chart(styled(fig), theme=None, width="stretch", key="blocks_chart")


def page_runtime(db) -> None:
    st.header("Runtime")
    table1_file = st.text_input("Table I rows (written by explorer table1 --out FILE)", key="table1_file")
    if table1_file:
        try:
            tables = queries.read_table1(table1_file)
        except (OSError, ValueError, KeyError) as e:
            st.error(f"cannot read Table I rows from {table1_file}: {e}")
            tables = {}
        for bundle, rows in tables.items():
            st.subheader(f"Table I: {bundle}")
            extra = {"effective accuracy %": "effective_accuracy", "deadline misses %": "deadline_miss_rate"}
            rows = rows.assign(**{"accuracy %": 100 * rows["accuracy"]},
                               **{label: 100 * rows[k] for label, k in extra.items() if k in rows})  # fmt: skip
            shown = rows[
                ["method", "accuracy %", "accuracy_delta_pp", *[label for label in extra if label in rows],
                 "processed", "processed_x", "inferences_per_w_x", "latency_median_ms", "latency_max_over_min"]]  # fmt: skip
            st.dataframe(shown, hide_index=True, width="stretch")
            long = rows.melt(id_vars="method", value_vars=["processed_x", "inferences_per_w_x"], var_name="ratio")
            fig = px.bar(long, x="method", y="value", color="method", facet_col="ratio", labels={"value": "× Original"})
            st.plotly_chart(styled(fig), theme=None, width="stretch", key=f"table1_{bundle}")
            st.caption(f"energy: {rows['energy_source'].iloc[0]}")
    folder = st.text_input("Run folder (written by explorer simulate/serve --out)", key="run_folder")
    if not folder:
        st.info("Give the folder of a saved run: `explorer simulate --bundle B --out RUN` writes one.")
        return
    try:
        summary, trace = queries.read_run(folder)
    except (OSError, ValueError) as e:
        st.error(f"cannot read a run from {folder}: {e}")
        return
    trace["state"] = trace["dropped"].map({True: "dropped", False: "processed"})
    fig = px.scatter(trace, x="arrival_ms", y="config", color="state", hover_data=["request", "latency_ms"],
                     labels={"arrival_ms": "arrival (ms)", "config": "configuration"})  # fmt: skip
    st.plotly_chart(styled(fig), theme=None, width="stretch", key="runtime_chart")
    keys = ["policy", "engine", "requests", "processed", "dropped", "accuracy", "latency_median_ms", "latency_p95_ms",
            "inferences_per_w", "energy_source"]  # fmt: skip
    st.table(pd.DataFrame({"value": [str(summary.get(k)) for k in keys]}, index=keys))


def page_run(db) -> None:
    st.header("Run a search")
    st.caption(
        "Queues the study for `explorer worker` processes (the same code as `explorer search --submit`); "
        "start workers on any machine with `explorer worker --db URL`, or one here with the button below."
    )
    from explorer.cli.search import ALL_ORDER, check_strategies, queue_search, search_options
    from explorer.search import STRATEGIES

    ckpt = st.text_input("Checkpoint directory", key="run_ckpt")
    study = st.text_input("Study name", key="run_study")
    strategy = st.selectbox("Strategy", sorted(STRATEGIES) + ["all"], key="run_strategy")
    objective = st.selectbox("Cost objective", ["latency", "macs"], key="run_objective")
    budget = st.number_input("Budget (evaluations, 0 = strategy default)", 0, 100000, 0, key="run_budget")
    limit = st.number_input("Validation images per evaluation (0 = all)", 0, 100000, 0, key="run_limit")
    if st.button("Queue", key="run_queue", disabled=not (ckpt and study)):
        try:
            names = ALL_ORDER if strategy == "all" else check_strategies(strategy)
            options = search_options(names, budget=budget or None, limit=limit or None, objective=objective)
            added = queue_search(db, Path(ckpt), study, options)
            st.success(f"study {study} {'queued' if added else 'was queued already'}")
        except ExplorerError as e:
            st.error(str(e))
    if st.button("Start a worker on this machine", key="run_worker"):
        import subprocess

        log = open("explorer-worker.log", "a")
        cmd = [sys.executable, "-m", "explorer.cli", "worker", "--db", db.url, "--once"]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        st.success(f"worker started (pid {proc.pid}); it stops when the queue is empty; log: explorer-worker.log")
    from explorer.workers import worker_status

    info = worker_status(db)
    st.subheader("Queue")
    jobs = pd.DataFrame(info["jobs"], columns=["study", "status", "strategies", "checkpoint", "message"])
    studies = queries.studies_table(db)
    counts = studies.set_index("study")["configurations"] if not studies.empty else pd.Series(dtype=int)
    jobs["configurations"] = [int(counts.get(name, 0)) for name in jobs["study"]]
    st.dataframe(jobs, hide_index=True, width="stretch")
    st.subheader("Workers")
    st.dataframe(pd.DataFrame(info["workers"], columns=["id", "host", "pid", "state", "heartbeat_age_s", "study",
                                                        "evaluated"]), hide_index=True, width="stretch")  # fmt: skip


def page_export(db) -> None:
    st.header("Export a bundle")
    study = pick_study(db)
    if study is None:
        return
    from explorer.deploy.iree import TARGETS

    target = st.selectbox("Target", list(TARGETS), key="export_target")
    min_acc = st.number_input("Minimum accuracy (fraction, 0 = all)", 0.0, 1.0, 0.0, key="export_min_acc")
    if st.button("Build bundle", key="export_build"):
        import io
        import tempfile
        import zipfile
        from pathlib import Path

        from explorer.deploy.export import export_bundle

        view = queries.load(db, study)
        with st.spinner("compiling the module ..."), tempfile.TemporaryDirectory() as tmp:
            out = export_bundle(view, Path(tmp) / "bundle", target=target, min_accuracy=min_acc or None)
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(out.iterdir()):
                    z.write(f, f.name)
        st.session_state["export_zip"] = buf.getvalue()
        st.success(f"bundle for {target}: {len(buf.getvalue()) / 1e6:.1f} MB")
    if "export_zip" in st.session_state:
        st.download_button(
            "Download bundle.zip", st.session_state["export_zip"], f"{study}-bundle.zip", key="export_dl"
        )


PAGES = {
    "Studies": page_studies, "Trade-offs": page_tradeoffs, "Strategies": page_strategies, "Blocks": page_blocks,
    "Runtime": page_runtime, "Run": page_run, "Export": page_export,
}  # fmt: skip


def main() -> None:
    st.set_page_config(page_title="skip-explorer", layout="wide")
    url = db_url()
    try:
        db = database(url)
    except ExplorerError as e:
        st.error(str(e))
        return
    st.sidebar.title("skip-explorer")
    st.sidebar.caption(url)
    page = st.sidebar.radio("Page", list(PAGES), key="page")
    try:
        PAGES[page](db)
    except ExplorerError as e:
        st.error(str(e))


main()
