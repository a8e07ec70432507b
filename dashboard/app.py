"""The skip-explorer dashboard: `explorer dashboard --db URL` (or `streamlit run app.py -- --db URL`).

Pages: Studies, Trade-offs, Evaluations, Trial, Compare, Strategies, Blocks, Runtime (the views),
Run and Export (they start work: left out with --read-only). The page, study and configuration
are in the URL (?page=Trade-offs&study=NAME), so a link opens them. The views only read the
results database; exports go through the same code as `explorer export`, searches are queued as
`explorer search --submit` does."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly import colors

from explorer.dashboard import queries
from explorer.dashboard.fmt import ACC, COSTS, HV, METRICS, MISSING, decimals, downloads, label, scaled, table
from explorer.errors import ExplorerError
from explorer.storage.models import REFERENCE

VIEWS = ("Studies", "Trade-offs", "Evaluations", "Trial", "Compare", "Strategies", "Blocks", "Runtime")
ACTIONS = ("Run", "Export")  # they queue studies, start processes, compile: not served with --read-only

# one colour and one marker per strategy, fixed (a strategy keeps its look on every page)
STRATEGY_COLOURS = {
    "exhaustive": "#9e9e9e", "random": "#bcbd22", "stratified": "#8c564b", "sensitivity": "#1f77b4",
    "l2-norm": "#ff7f0e", "fisher": "#2ca02c", "hessian": "#d62728", "nsga2": "#9467bd",
    "optuna-nsga2": "#e377c2", "optuna-random": "#17becf", "optuna-tpe": "#393b79",
}  # fmt: skip
SYMBOLS = ("circle-open", "square-open", "diamond-open", "triangle-up-open", "cross-open", "x-open",
           "star-open", "hexagon-open", "pentagon-open", "triangle-down-open", "hourglass-open")  # fmt: skip


def options() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=os.environ.get("EXPLORER_DB", "sqlite:///explore.db"))
    ap.add_argument("--runs", default=None, help="folder with saved runs and Table I files (Runtime page)")
    ap.add_argument("--read-only", action="store_true", help="serve the views only (no Run, no Export)")
    args, _ = ap.parse_known_args(sys.argv[1:])
    return args


@st.cache_resource
def database(url: str):
    return queries.open_db(url)


# Every cache below is keyed by a version (counts and last ids of trials and evaluations, last update):
# the database's for the list of studies, the study's own for its view; a new evaluation makes them
# read again, so nothing stale is shown, and a running search makes only its own study read again.


@st.cache_data(max_entries=4, show_spinner=False)
def studies(url: str, version: tuple) -> pd.DataFrame:
    return queries.studies_table(database(url))


@st.cache_resource(max_entries=16, show_spinner=False)
def study_view(url: str, study: str, device: str | None, version: tuple):
    return queries.load(database(url), study, device)


@st.cache_data(max_entries=256, show_spinner=False)
def study_summary(url: str, study: str, version: tuple) -> dict:
    """Hypervolume, front size and configurations shown of one study."""
    from explorer.pareto import hypervolume

    view = study_view(url, study, None, version)
    try:
        front = view.front()
        full = view.full[view.cost_metric]
        hv = hypervolume([e["accuracy"] for e in front], [e[view.cost_metric] for e in front], full)
    except ExplorerError:
        front, hv = [], None
    return {"hv": hv, "front": len(front), "shown": len({r["config"] for r in view.rows})}


@st.cache_data(max_entries=32, show_spinner=False)
def evaluations(url: str, study: str, device: str | None, version: tuple) -> pd.DataFrame:
    return queries.evaluations_frame(study_view(url, study, device, version))


@st.cache_data(max_entries=32, show_spinner=False)
def configurations(url: str, study: str, device: str | None, version: tuple) -> pd.DataFrame:
    return queries.configs_frame(study_view(url, study, device, version))


@st.cache_data(max_entries=32, show_spinner=False)
def left_out(url: str, study: str, device: str | None, version: tuple) -> pd.DataFrame:
    return queries.left_out(database(url), study_view(url, study, device, version))


class Ctx:
    """What every page gets: the database, its URL and version, the serving options."""

    def __init__(self, db, args, version):
        self.db, self.url, self.args, self.version = db, db.url, args, version
        self.versions = queries.study_versions(db)

    def v(self, study: str) -> tuple:
        """The version of one study's data: the key of its caches."""
        return self.versions.get(study, ())

    def view(self, study, device=None):
        return study_view(self.url, study, device, self.v(study))


def chart(fig, key: str, **kw):
    """One fixed, readable style for every chart (theme=None: Streamlit's theme would recolour it)."""
    fig.update_layout(template="plotly_white", font={"size": 14}, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return st.plotly_chart(fig, theme=None, width="stretch", key=key, **kw)


def strategy_style(names) -> dict[str, tuple[str, str]]:
    extra = iter(colors.qualitative.Dark24)
    return {n: (STRATEGY_COLOURS.get(n) or next(extra), SYMBOLS[i % len(SYMBOLS)])
            for i, n in enumerate(sorted(names))}  # fmt: skip


def pick_study(ctx: Ctx, key: str = "study", label_: str = "Study") -> str | None:
    table_ = studies(ctx.url, ctx.version)
    if table_.empty:
        st.info("This database has no studies yet: run `explorer search --db ...` (or the Run page) first.")
        return None
    names = table_["study"].tolist()
    if st.session_state.get(key) not in names:
        st.session_state[key] = names[0]
    study = st.sidebar.selectbox(label_, names, key=key)
    if key == "study":
        st.query_params["study"] = study
    return study


def study_page(title: str):
    """A page about one study: its header and the study picker run first, and the page gets the
    chosen study (nothing more is drawn while the database has none)."""

    def wrap(page):
        @functools.wraps(page)
        def draw(ctx: Ctx) -> None:
            st.header(title)
            study = pick_study(ctx)
            if study is not None:
                page(ctx, study)

        return draw

    return wrap


def report_left_out(ctx: Ctx, study: str, device: str | None) -> pd.DataFrame:
    """Say which of the study's trials a view leaves out, and why (a metric not measured)."""
    gone = left_out(ctx.url, study, device, ctx.v(study))
    if not gone.empty:
        why = gone["missing"].replace("", "—").value_counts()
        reasons = "; ".join(f"{n} lack {m}" for m, n in why.items())
        st.warning(
            f"{len(gone)} of the study's trials are left out: no measurement under this study's settings "
            f"({reasons}); still being evaluated, or measured elsewhere. Evaluations lists them."
        )
    return gone


# -- pages -----------------------------------------------------------------------------------------------


# Above this many evaluations in the database the Studies page does not read every study on its
# first load (report.db: 49,000 rows, 1.5 s of its cold render); one toggle adds the columns.
SUMMARY_AUTO_EVALUATIONS = 5000


def page_studies(ctx: Ctx) -> None:
    st.header("Studies")
    table_ = studies(ctx.url, ctx.version)
    if table_.empty:
        st.info("This database has no studies yet: run `explorer search --db ...` first.")
        return
    table_ = table_.rename(columns={"configurations": "configurations stored"})
    table_["objective"] = table_["objective"].map(lambda m: label(m) if m else MISSING)
    n_evals = ctx.version[2]
    summarise = st.toggle(f"Front and hypervolume of every study (reads all {n_evals:,} evaluations)",
                          value=n_evals <= SUMMARY_AUTO_EVALUATIONS, key="studies_summary")  # fmt: skip
    cols = ["study", "objective", "configurations stored", "strategies", "arch", "dataset", "gates", "checkpoint",
            "last update"]  # fmt: skip
    if summarise:
        rows = [study_summary(ctx.url, name, ctx.v(name)) for name in table_["study"]]
        table_ = table_.assign(**{"configurations shown": [r["shown"] for r in rows],
                                  "front": [r["front"] for r in rows], HV: [r["hv"] for r in rows]})  # fmt: skip
        cols[3:3] = ["configurations shown", "front", HV]
    table(table_[cols], key="studies_table", height=min(800, 38 + 35 * len(table_)))
    if summarise:
        st.caption("configurations shown: those measured by every evaluator of the study (the others lack a metric).")
    else:
        st.caption(f"Front size and hypervolume are left out on first load above {SUMMARY_AUTO_EVALUATIONS:,} "
                   "evaluations (each study would be read); the toggle adds them, Trade-offs shows one study's.")  # fmt: skip


def tradeoff_filters(df: pd.DataFrame, view, study: str, device: str | None, cost: str):
    """Filter widgets keyed by (study, device) and, for the cost limit, by the cost axis too:
    changing any of them starts from defaults instead of carrying a limit that no longer applies."""
    where = f"{study}|{device}"
    cost_label = label(cost)
    min_acc = st.sidebar.slider("Minimum accuracy (%)", 0.0, 100.0, float(max(0.0, df[ACC].min() - 1)),
                                key=f"min_acc|{where}")  # fmt: skip
    top = float(df[cost_label].max())
    max_cost = st.sidebar.number_input(
        f"Maximum {cost_label}", min_value=0.0, value=top, key=f"max_cost|{where}|{cost}"
    )
    strategies = st.sidebar.multiselect("Strategies", sorted(df["strategy"].unique()), key=f"strategies|{where}")
    g = view.checkpoint.num_gates
    skipped = st.sidebar.slider("Skipped blocks", 0, g, (0, g), key=f"skipped|{where}")
    sel = df[(df[ACC] >= min_acc) & (df[cost_label] <= max_cost) & df["skipped"].between(*skipped)]
    if strategies:
        sel = sel[sel["strategy"].isin(strategies)]
    limits = {"minimum accuracy": f"{min_acc:.2f} %", f"maximum {cost_label}": f"{max_cost:,.4g}",
              "skipped blocks": f"{skipped[0]}–{skipped[1]}", "strategies": ", ".join(strategies) or "all"}  # fmt: skip
    return sel, limits


def front_of(configs: pd.DataFrame, cost_label: str) -> pd.DataFrame:
    """The non-dominated configurations (explorer.pareto, as every other page and export use)."""
    from explorer.pareto import front_indices

    idx = front_indices(configs[ACC].tolist(), configs[cost_label].tolist())
    return configs.iloc[idx].sort_values(cost_label)


@study_page("Trade-offs")
def page_tradeoffs(ctx: Ctx, study: str) -> None:
    devices = queries.devices(ctx.db, study)
    device = st.sidebar.selectbox("Latency from", ["this machine (study)"] + devices, key=f"device|{study}")
    device = None if device.startswith("this machine") else device
    view = ctx.view(study, device)
    raw = evaluations(ctx.url, study, device, ctx.v(study))
    if raw.empty or "accuracy" not in raw:
        st.info(f"Study {study} has no evaluations yet.")
        return
    costs = [c for c in COSTS if c in raw]
    cost = st.sidebar.selectbox("Cost axis", costs, index=costs.index(view.cost_metric) if view.cost_metric in costs else 0,
                                format_func=label, key=f"cost|{study}|{device}")  # fmt: skip
    cost_label = label(cost)
    colour = st.sidebar.radio("Colour by", ["strategy", "skipped blocks"], key="colour")
    df = scaled(raw)
    sel, limits = tradeoff_filters(df, view, study, device, cost)
    found = configurations(ctx.url, study, device, ctx.v(study)).set_index("config")["found by"]
    shown = sel.drop_duplicates("config").assign(**{"found by": lambda d: d["config"].map(found)})
    front = front_of(shown, cost_label) if not shown.empty else shown
    source = view.settings["evaluators"]
    by = view.measured_by.get(cost)  # read from the stored rows: the evaluator registry would import torch
    st.caption(
        f"{shown['config'].nunique()} configurations shown of {raw['config'].nunique()} ({len(sel)} of {len(raw)} "
        f"evaluations: a configuration asked by several strategies counts once per strategy); {len(front)} on the "
        f"front of what is shown, on {cost_label}. Accuracy: {source.get('accuracy', MISSING)}. "
        f"{cost_label}: {by or 'imported'} ({source.get(by, device or MISSING)})."
    )
    report_left_out(ctx, study, device)
    if sel.empty:
        st.warning("No evaluation passes the filters (" + "; ".join(f"{k} {v}" for k, v in limits.items()) +
                   "): lower the minimum accuracy, raise the maximum cost or widen the other filters in the sidebar.")  # fmt: skip
        return
    hover = ["config", "found by", ACC, cost_label, "skipped blocks"]
    fig = go.Figure()
    full = "1" * view.checkpoint.num_gates
    if colour == "strategy":
        style = strategy_style(df["strategy"].unique())
        strategies = sel[sel["strategy"] != REFERENCE].groupby("strategy")  # the reference: a star, below
        for i, (name, part) in enumerate(sorted(strategies, key=lambda kv: kv[0])):
            part = part.assign(**{"found by": part["config"].map(found)})
            c, symbol = style[name]
            fig.add_trace(go.Scatter(
                x=part[cost_label], y=part[ACC], mode="markers", name=name, customdata=part[hover].values,
                marker={"color": c, "symbol": symbol, "size": 13 - 1.2 * (i % 4), "line": {"width": 2}},
                hovertemplate="<b>%{customdata[0]}</b><br>found by %{customdata[1]}<br>accuracy %{y:.2f} %<br>"
                f"{cost_label} %{{x:.4g}}<br>skipped blocks %{{customdata[4]}}<extra></extra>"))  # fmt: skip
        legend = "strategy"
    else:
        counts = sorted(shown["skipped"].unique())
        palette = colors.sample_colorscale("Viridis", [i / max(1, len(counts) - 1) for i in range(len(counts))])
        for k, c in zip(counts, palette, strict=True):
            part = shown[shown["skipped"] == k]
            fig.add_trace(go.Scatter(x=part[cost_label], y=part[ACC], mode="markers", name=str(k),
                                     customdata=part[hover].values, marker={"color": c, "size": 10},
                                     hovertemplate="<b>%{customdata[0]}</b><br>found by %{customdata[1]}"
                                     "<extra></extra>"))  # fmt: skip
        legend = "skipped blocks"
    fig.add_trace(go.Scatter(x=front[cost_label], y=front[ACC], mode="lines", line={"shape": "hv", "color": "black"},
                             name="front", hoverinfo="skip"))  # fmt: skip
    ref = shown[shown["config"] == full]
    if not ref.empty:  # drawn last: on top of every strategy's marker
        fig.add_trace(go.Scatter(x=ref[cost_label], y=ref[ACC], mode="markers", name="full depth (reference)",
                                 marker={"symbol": "star", "size": 18, "color": "gold", "line": {"width": 1.5, "color": "black"}},
                                 customdata=ref[hover].values, hovertemplate="full depth %{customdata[0]}<extra></extra>"))  # fmt: skip
    fig.update_layout(xaxis_title=cost_label, yaxis_title=ACC, legend_title_text=legend)
    event = chart(fig, f"tradeoff_chart|{study}|{device}|{cost}", on_select="rerun",
                  selection_mode=("points", "box", "lasso"))  # fmt: skip
    points = event.selection.points if event and event.selection else []
    picked = [p["customdata"][0] for p in points if p.get("customdata")]
    st.subheader("Selected" if picked else f"Front, on {cost_label}")
    cols = ["config", "skipped blocks", ACC, cost_label, "found by"]
    cols += [c for c in (label("macs"), label("latency_ms")) if c in shown and c not in cols]
    out = (shown[shown["config"].isin(picked)] if picked else front)[cols]
    table(out, key="front_table")
    downloads(out, f"{study}-{'selected' if picked else 'front'}", "front_dl")
    if not picked:
        st.caption("Click or lasso points to list them; Trial shows one configuration in full.")


@study_page("Evaluations")
def page_evaluations(ctx: Ctx, study: str) -> None:
    configs = configurations(ctx.url, study, None, ctx.v(study))
    gone = report_left_out(ctx, study, None)
    if configs.empty:
        st.info(f"Study {study} has no evaluations yet.")
        return
    df = scaled(configs)
    metric_cols = [label(m) for m in METRICS if label(m) in df] + [c for c in configs if c not in df.columns]
    a, b, c = st.columns(3)
    strategies = a.multiselect(
        "Found by", sorted({s for v in df["found by"] for s in v.split(", ")}), key=f"ev_strat|{study}"
    )
    text = b.text_input("Configuration contains", key=f"ev_text|{study}")
    only_front = c.toggle("Front only", key=f"ev_front|{study}")
    sel = df
    if strategies:
        sel = sel[sel["found by"].map(lambda v: any(s in v.split(", ") for s in strategies))]
    if text:
        sel = sel[sel["config"].str.contains(text, regex=False)]
    if only_front:
        sel = sel[sel["on front"]]
    cols = ["config", "found by", "skipped", "skipped blocks", "on front", *metric_cols]
    cols = [c for c in dict.fromkeys(cols) if c in sel and c not in ("macs",)]
    st.caption(f"{len(sel)} configurations of {len(df)}; sort by clicking a header. Open one in Trial: "
               f"?page=Trial&study={study}&config=BITS")  # fmt: skip
    table(sel[cols], key="evaluations_table")
    downloads(sel[cols], f"{study}-evaluations", "evaluations_dl")
    if not gone.empty:
        with st.expander(f"Left out ({len(gone)}): trials without every metric"):
            table(gone.rename(columns={"missing": "not measured by"}), key="left_out_table")


@study_page("Trial")
def page_trial(ctx: Ctx, study: str) -> None:
    view = ctx.view(study)
    configs = configurations(ctx.url, study, None, ctx.v(study))
    if configs.empty:
        st.info(f"Study {study} has no evaluations yet.")
        return
    names = configs.sort_values("accuracy", ascending=False)["config"].tolist()
    key = f"trial|{study}"
    if key not in st.session_state and st.query_params.get("config") in names:
        st.session_state[key] = st.query_params["config"]
    config = st.selectbox("Configuration (1 = block executed, 0 = skipped)", names, key=key)
    st.query_params["config"] = config
    row = scaled(configs[configs["config"] == config]).iloc[0]
    a, b, c = st.columns(3)
    a.metric(ACC, f"{row[ACC]:.2f}")
    cost_label = label(view.cost_metric)
    b.metric(cost_label, f"{row[cost_label]:.4g}" if cost_label in row and pd.notna(row[cost_label]) else MISSING)
    c.metric("on the front", "yes" if row["on front"] else "no")
    st.write(f"Skipped blocks: {row['skipped blocks']}  ·  found by: {row['found by']}")
    asked = pd.DataFrame([{"strategy": r["strategy"], "asked as (nth)": r["seq"] + 1,
                           "wall time (s)": r["wall_time_s"]} for r in view.rows if r["config"] == config])  # fmt: skip
    st.subheader("Strategies that asked for it")
    table(asked, key="trial_asked")
    st.subheader("Every measurement stored for it")
    records = queries.config_records(ctx.db, view, config)
    factor = records["metric"].map(lambda m: METRICS.get(m, (m, 1.0))[1])
    records["metric"] = records["metric"].map(label)
    records["value"] = [MISSING if pd.isna(v) else f"{v:,.{decimals(m) if decimals(m) is not None else 4}f}"
                        for v, m in zip(pd.to_numeric(records["value"], errors="coerce") * factor, records["metric"],
                                        strict=True)]  # fmt: skip
    table(records, key="trial_records")
    settings = view.settings["evaluators"].get("accuracy", "")
    limit = next((p.split("=", 1)[1] for p in settings.split(";") if p.startswith("limit=")), None)
    split = next((p.split("=", 1)[1] for p in settings.split(";") if p.startswith("split=")), "val")
    st.subheader("Commands")
    st.code(
        f"explorer evaluate --checkpoint {view.checkpoint.path} --skip {config} --split {split}"
        + (f" --limit {limit}" if limit and limit != "None" else "")
        + f"\nexplorer export --db {ctx.url} --study {study} --target host --out {study}-bundle"
        + (
            "   # the front; this configuration is on it"
            if row["on front"]
            else "   # the front (this one is not on it)"
        ),
        language="bash",
    )


def page_compare(ctx: Ctx) -> None:
    st.header("Compare two studies' fronts")
    table_ = studies(ctx.url, ctx.version)
    if len(table_) < 1:
        st.info("This database has no studies yet.")
        return
    a = pick_study(ctx)
    names = table_["study"].tolist()
    if st.session_state.get("compare_b") not in names:
        st.session_state["compare_b"] = next((n for n in names if n != a), a)
    b = st.sidebar.selectbox("Compare with", names, key="compare_b")
    st.query_params["compare"] = b
    frames = {n: scaled(configurations(ctx.url, n, None, ctx.v(n))) for n in dict.fromkeys([a, b])}
    common = [c for c in COSTS if all(label(c) in f for f in frames.values())]
    if not common or any(f.empty for f in frames.values()):
        st.warning(f"{a} and {b} have no cost metric in common (or one has no evaluations): pick another pair.")
        return
    cost = st.sidebar.selectbox("Cost axis", common, format_func=label, key=f"compare_cost|{a}|{b}")
    cost_label = label(cost)
    fig = go.Figure()
    rows = []
    for (name, f), colour, dash in zip(frames.items(), ("#1f77b4", "#d62728"), ("solid", "dash"), strict=False):
        f = f.dropna(subset=[cost_label, ACC])
        front = front_of(f, cost_label)
        fig.add_trace(go.Scatter(x=f[cost_label], y=f[ACC], mode="markers", name=f"{name}: all",
                                 marker={"color": colour, "size": 6, "opacity": 0.25}, text=f["config"]))  # fmt: skip
        fig.add_trace(go.Scatter(x=front[cost_label], y=front[ACC], mode="lines+markers", name=f"{name}: front",
                                 line={"shape": "hv", "color": colour, "dash": dash}, marker={"size": 9},
                                 text=front["config"]))  # fmt: skip
        rows.append({"study": name, "configurations": len(f), "front": len(front),
                     f"best {ACC}": f[ACC].max(), f"lowest {cost_label}": f[cost_label].min()})  # fmt: skip
    fig.update_layout(xaxis_title=cost_label, yaxis_title=ACC, legend_title_text="study")
    chart(fig, f"compare_chart|{a}|{b}|{cost}")
    table(pd.DataFrame(rows), key="compare_table")


@study_page("Strategies")
def page_strategies(ctx: Ctx, study: str) -> None:
    import plotly.express as px  # here, not at the top: 0.1 s of the landing page's cold render

    view = ctx.view(study)
    report_left_out(ctx, study, None)
    hist = queries.hypervolume_history(view)
    if hist.empty:
        st.info(f"Study {study} has no evaluations yet.")
        return
    style = strategy_style(hist["strategy"].unique())
    fig = px.line(hist, x="evaluations", y="hypervolume", color="strategy", markers=True, symbol="strategy",
                  line_dash="strategy", color_discrete_map={k: v[0] for k, v in style.items()},
                  symbol_map={k: v[1] for k, v in style.items()},
                  labels={"evaluations": "evaluations (count)", "hypervolume": HV})  # fmt: skip
    fig.update_layout(legend_title_text="strategy", yaxis_title="hypervolume")
    chart(fig, "strategies_chart")
    st.caption(f"{HV}; on {label(view.cost_metric)} (the study's objective).")
    out = queries.strategy_table(view, queries.trial_counts(ctx.db, study)).rename(columns={"hypervolume": HV})
    table(out, key="strategies_table")


@study_page("Blocks")
def page_blocks(ctx: Ctx, study: str) -> None:
    view = ctx.view(study)
    st.subheader("What each block is worth")
    table(queries.block_importance(view), key="blocks_table")
    front = view.front()
    st.subheader(f"Front configurations × blocks ({len(front)} on the front, on {label(view.cost_metric)})")
    if not front:
        return
    front = sorted(front, key=lambda e: -e["accuracy"])  # most accurate configuration on top
    labels = [f"{e.config} ({100 * e['accuracy']:.2f} %)" for e in front]
    z = [list(e.config.bits) for e in front]
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(g) for g in range(view.checkpoint.num_gates)], y=labels, zmin=0, zmax=1, xgap=1, ygap=1,
        colorscale=[[0, "#f2f2f2"], [0.5, "#f2f2f2"], [0.5, "#303030"], [1, "#303030"]],
        colorbar={"title": {"text": "block"}, "tickvals": [0.25, 0.75], "ticktext": ["skipped", "executed"]},
        hovertemplate="%{y}<br>block %{x}: %{z}<extra>1 = executed</extra>"))  # fmt: skip
    fig.update_yaxes(tickmode="array", tickvals=labels, ticktext=labels, autorange="reversed",
                     title="configuration (accuracy)")  # fmt: skip
    fig.update_xaxes(title="block (gate index)")
    fig.update_layout(height=max(300, 60 + 22 * len(front)))
    chart(fig, "blocks_chart")


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


def page_run(ctx: Ctx) -> None:
    st.header("Run a search")
    st.caption(
        "Queues the study for `explorer worker` processes (the same code as `explorer search --submit`); "
        "start workers on any machine with `explorer worker --db URL`, or one here with the button below."
    )
    from explorer.search import STRATEGIES
    from explorer.study import SearchOptions, queue_search, resolve_strategies

    db = ctx.db
    ckpt = st.text_input("Checkpoint directory", key="run_ckpt")
    study = st.text_input("Study name", key="run_study")
    strategy = st.selectbox("Strategy", sorted(STRATEGIES) + ["all"], key="run_strategy")
    objective = st.selectbox("Cost objective", ["latency", "macs"], key="run_objective")
    budget = st.number_input("Budget (evaluations, 0 = strategy default)", 0, 100000, 0, key="run_budget")
    limit = st.number_input("Validation images per evaluation (0 = all)", 0, 100000, 0, key="run_limit")
    if st.button("Queue", key="run_queue", disabled=not (ckpt and study)):
        try:
            names = resolve_strategies(strategy)
            options_ = SearchOptions(names, budget=budget or None, limit=limit or None, objective=objective)
            added = queue_search(db, Path(ckpt), study, options_)
            st.success(f"study {study} {'queued' if added else 'was queued already'}")
        except ExplorerError as e:
            st.error(str(e))
    if st.button("Start a worker on this machine", key="run_worker"):
        import subprocess

        log = open("explorer-worker.log", "a")
        cmd = [sys.executable, "-m", "explorer.cli", "worker", "--db", db.url, "--once"]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        st.success(f"worker started (pid {proc.pid}); it stops when the queue is empty; log: explorer-worker.log")
    from explorer.storage.coordination import worker_status

    info = worker_status(db)
    st.subheader("Queue")
    jobs = pd.DataFrame(info["jobs"], columns=["study", "status", "strategies", "checkpoint", "message"])
    table_ = studies(ctx.url, ctx.version)
    counts = table_.set_index("study")["configurations"] if not table_.empty else pd.Series(dtype=int)
    jobs["configurations"] = [int(counts.get(name, 0)) for name in jobs["study"]]
    table(jobs, key="run_jobs")
    st.subheader("Workers")
    workers = pd.DataFrame(
        info["workers"], columns=["id", "host", "pid", "state", "heartbeat_age_s", "study", "evaluated"]
    )
    workers = workers.rename(columns={"heartbeat_age_s": "heartbeat age (s)", "evaluated": "evaluated (count)"})
    table(workers, key="run_workers")


@study_page("Export a bundle")
def page_export(ctx: Ctx, study: str) -> None:
    from explorer.deploy.iree import TARGETS

    view = ctx.view(study)
    target = st.selectbox("Target", list(TARGETS), key="export_target")
    min_acc = st.number_input(
        "Minimum accuracy (%) (0 = the whole front)", 0.0, 100.0, 0.0, step=0.5, key="export_min_acc"
    )
    ckpt, problem = queries.locate_checkpoint(view, ctx.url)
    if problem:
        st.error(problem)
    else:
        st.caption(f"checkpoint: {ckpt} (sha256 {view.checkpoint.sha256[:12]}… verified)")
    wanted = (study, target, min_acc)
    front = [e for e in view.front() if 100 * e["accuracy"] >= min_acc]
    rows = scaled(pd.DataFrame([{"config": str(e.config), "skipped blocks": ",".join(map(str, e.config.skipped)) or "-",
                                 **e.metrics} for e in front]))  # fmt: skip
    st.subheader(f"The front to deploy: {len(rows)} configurations (on {label(view.cost_metric)})")
    if not rows.empty:
        table(rows, key="export_front")
        downloads(rows, f"{study}-front", "export_front_dl")
    if st.button("Build bundle", key="export_build", disabled=ckpt is None):
        import io
        import tempfile
        import zipfile

        from explorer.deploy.export import export_bundle

        st.session_state.pop("export_zip", None)
        with st.spinner("compiling the module ..."), tempfile.TemporaryDirectory() as tmp:
            with_stats = queries.load(ctx.db, study, artifacts=True)  # the cached view leaves them unread
            out = export_bundle(with_stats, Path(tmp) / "bundle", target=target,
                                min_accuracy=min_acc / 100 or None, checkpoint=ckpt)  # fmt: skip
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(out.iterdir()):
                    z.write(f, f.name)
        st.session_state["export_zip"] = {"for": wanted, "data": buf.getvalue()}
    built = st.session_state.get("export_zip")
    if built and built["for"] == wanted:
        st.success(f"bundle of {study} for {target}: {len(built['data']) / 1e6:.1f} MB")
        st.download_button("Download bundle.zip", built["data"], f"{study}-{target}-bundle.zip", key="export_dl")
    elif built:
        s, t, m = built["for"]
        st.info(f"The bundle built before was for {s} / {t} / ≥ {m:.2f} %: build again for this study, target "
                "and threshold.")  # fmt: skip


PAGES = {
    "Studies": page_studies, "Trade-offs": page_tradeoffs, "Evaluations": page_evaluations, "Trial": page_trial,
    "Compare": page_compare, "Strategies": page_strategies, "Blocks": page_blocks, "Runtime": page_runtime,
    "Run": page_run, "Export": page_export,
}  # fmt: skip


def live_refresh(ctx: Ctx) -> None:
    """While a search (or anything) writes to the database, every page reruns within 5 s."""
    if not st.sidebar.toggle("Live refresh (every 5 s when the database changes)", value=True, key="live"):
        return

    @st.fragment(run_every=5)
    def poll():
        if queries.db_version(ctx.db) != ctx.version:
            st.rerun()

    poll()


def main() -> None:
    st.set_page_config(page_title="skip-explorer", layout="wide")
    args = options()
    try:
        db = database(args.db)
        version = queries.db_version(db)
    except ExplorerError as e:
        st.error(str(e))
        return
    ctx = Ctx(db, args, version)
    served = list(VIEWS) if args.read_only else list(PAGES)
    st.sidebar.title("skip-explorer")
    st.sidebar.caption(db.url + ("  ·  read-only" if args.read_only else ""))
    st.sidebar.caption(f"{version[4]} studies · {version[0]} trials · {version[2]} evaluations")
    asked = st.query_params.get("page")
    if "page" not in st.session_state and asked in served:
        st.session_state["page"] = asked
    if "study" not in st.session_state and st.query_params.get("study"):
        st.session_state["study"] = st.query_params["study"]
    if "compare_b" not in st.session_state and st.query_params.get("compare"):
        st.session_state["compare_b"] = st.query_params["compare"]
    page = st.sidebar.radio("Page", served, key="page")
    if asked and asked not in served and page == served[0]:
        why = "this dashboard is read-only (--read-only)" if asked in ACTIONS else f"pages: {', '.join(served)}"
        st.warning(f"Page {asked!r} is not served: {why}.")
    st.query_params["page"] = page
    if page != "Trial":
        st.query_params.pop("config", None)
    if page != "Compare":
        st.query_params.pop("compare", None)
    try:
        PAGES[page](ctx)
    except ExplorerError as e:
        st.error(str(e))
    live_refresh(ctx)


main()
