"""Runtime: saved runs and Table I files of the adaptive runtime."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from explorer.dashboard import queries
from explorer.dashboard.common import Ctx, chart
from explorer.dashboard.fmt import ACC, MISSING, table


def runs_folder_default(ctx: Ctx) -> str:
    if ctx.args.runs:
        return ctx.args.runs
    from sqlalchemy.engine import make_url

    u = make_url(ctx.url)
    if u.get_backend_name() == "sqlite" and u.database:
        return str(Path(u.database).resolve().parent)
    return os.getcwd()


def page_runtime(ctx: Ctx) -> None:
    import plotly.express as px  # as in page_strategies

    st.header("Runtime")
    folder = st.text_input("Runs folder (explorer simulate/serve --out, explorer table1 --out write there)",
                           value=runs_folder_default(ctx), key="runs_folder")  # fmt: skip
    runs, tables = queries.saved_files(folder)
    if not Path(folder).is_dir():
        st.error(f"{folder} is not a folder on this machine: give the folder your runs are saved in "
                 "(explorer dashboard --runs DIR sets it).")  # fmt: skip
        return

    def rel(p: Path) -> str:
        return str(p.relative_to(folder)) if p != Path(folder) else "."

    none = "(none)"
    table1 = st.selectbox(f"Table I rows ({len(tables)} JSON files here)", [none] + [rel(p) for p in tables],
                          key=f"table1|{folder}")  # fmt: skip
    if table1 != none:
        try:
            tables_ = queries.read_table1(Path(folder) / table1)
        except (OSError, ValueError) as e:
            st.error(f"{table1} is not a Table I file written by `explorer table1 --out`: {e}. Pick another file.")
            tables_ = {}
        for bundle, rows in tables_.items():
            st.subheader(f"Table I: {bundle}")
            pct = {"accuracy": ACC, "effective_accuracy": "effective accuracy (%)",
                   "deadline_miss_rate": "deadline misses (%)"}  # fmt: skip
            names = {"accuracy_delta_pp": "accuracy Δ (pp)", "processed": "processed (count)",
                     "processed_x": "processed (×)", "inferences_per_w_x": "inferences per W (×)",
                     "latency_median_ms": "median latency (ms)", "latency_max_over_min": "latency max ÷ min (×)"}  # fmt: skip
            shown = rows.assign(**{k: 100 * pd.to_numeric(rows[k], errors="coerce") for k in pct if k in rows})
            shown = shown.rename(columns={**pct, **names})
            cols = ["method", *[c for c in (*pct.values(), *names.values()) if c in shown]]
            table(shown[cols], key=f"table1_table_{bundle}")
            long = rows.melt(id_vars="method", value_vars=["processed_x", "inferences_per_w_x"], var_name="ratio")
            long["ratio"] = long["ratio"].map(names)
            fig = px.bar(long, x="method", y="value", color="method", facet_col="ratio",
                         labels={"value": "× Original", "method": "method"})  # fmt: skip
            chart(fig, f"table1_{bundle}")
            if "energy_source" in rows:
                st.caption(f"energy: {rows['energy_source'].iloc[0]}")
    run = st.selectbox(f"Saved run ({len(runs)} here)", [none] + [rel(p) for p in runs], key=f"run|{folder}")
    if run == none:
        st.info("Pick a saved run: `explorer simulate --bundle B --out RUN` writes one into RUN.")
        return
    try:
        summary, trace = queries.read_run(Path(folder) / run)
    except (OSError, ValueError) as e:
        st.error(f"cannot read the run in {run}: {e}. Pick another one.")
        return
    trace["state"] = trace["dropped"].map({True: "dropped", False: "processed"})
    fig = px.scatter(trace, x="arrival_ms", y="config", color="state", hover_data=["request", "latency_ms"],
                     labels={"arrival_ms": "arrival (ms)", "config": "configuration (bits)", "state": "request",
                             "latency_ms": "latency (ms)"})  # fmt: skip
    chart(fig, "runtime_chart")
    keys = {"policy": "policy", "engine": "engine", "requests": "requests (count)", "processed": "processed (count)",
            "dropped": "dropped (count)", "accuracy": ACC, "latency_median_ms": "median latency (ms)",
            "latency_p95_ms": "p95 latency (ms)", "inferences_per_w": "inferences per W", "energy_source": "energy from"}  # fmt: skip

    def show(k):
        v = summary.get(k)
        if v is None:
            return MISSING
        if k == "accuracy":
            return f"{100 * v:.2f}"
        return f"{v:,.3f}" if isinstance(v, float) else str(v)

    table(pd.DataFrame({"": list(keys.values()), "value": [show(k) for k in keys]}), key="runtime_summary")
