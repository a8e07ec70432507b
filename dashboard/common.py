"""What every dashboard page shares: the cached reads of the database (each keyed by a version, so
nothing stale is shown), the page context, the study picker, one chart style and one look per
strategy."""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st
from plotly import colors

from explorer.dashboard import queries
from explorer.dashboard.fmt import ACC
from explorer.errors import ExplorerError

# one colour and one marker per strategy, fixed (a strategy keeps its look on every page)
STRATEGY_COLOURS = {
    "exhaustive": "#9e9e9e", "random": "#bcbd22", "stratified": "#8c564b", "sensitivity": "#1f77b4",
    "l2-norm": "#ff7f0e", "fisher": "#2ca02c", "hessian": "#d62728", "nsga2": "#9467bd",
    "optuna-nsga2": "#e377c2", "optuna-random": "#17becf", "optuna-tpe": "#393b79",
}  # fmt: skip
SYMBOLS = ("circle-open", "square-open", "diamond-open", "triangle-up-open", "cross-open", "x-open",
           "star-open", "hexagon-open", "pentagon-open", "triangle-down-open", "hourglass-open")  # fmt: skip


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


def front_of(configs: pd.DataFrame, cost_label: str) -> pd.DataFrame:
    """The non-dominated configurations (explorer.pareto, as every other page and export use)."""
    from explorer.pareto import front_indices

    idx = front_indices(configs[ACC].tolist(), configs[cost_label].tolist())
    return configs.iloc[idx].sort_values(cost_label)
