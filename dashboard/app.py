"""The skip-explorer dashboard: `explorer dashboard --db URL` (or `streamlit run app.py -- --db URL`).

Pages: Studies, Trade-offs, Evaluations, Trial, Compare, Strategies, Blocks, Runtime (the views),
Run and Export (they start work: left out with --read-only), one module each (page_*.py; what
they share is in common.py). The page, study and configuration are in the URL
(?page=Trade-offs&study=NAME), so a link opens them. The views only read the results database;
exports go through the same code as `explorer export`, searches are queued as `explorer search
--submit` does."""

from __future__ import annotations

import argparse
import os
import sys

import streamlit as st

from explorer.dashboard import queries
from explorer.dashboard.common import Ctx, database
from explorer.dashboard.page_blocks import page_blocks
from explorer.dashboard.page_compare import page_compare
from explorer.dashboard.page_evaluations import page_evaluations
from explorer.dashboard.page_export import page_export
from explorer.dashboard.page_run import page_run
from explorer.dashboard.page_runtime import page_runtime
from explorer.dashboard.page_strategies import page_strategies
from explorer.dashboard.page_studies import page_studies
from explorer.dashboard.page_tradeoffs import page_tradeoffs
from explorer.dashboard.page_trial import page_trial
from explorer.errors import ExplorerError

VIEWS = ("Studies", "Trade-offs", "Evaluations", "Trial", "Compare", "Strategies", "Blocks", "Runtime")
ACTIONS = ("Run", "Export")  # they queue studies, start processes, compile: not served with --read-only


def options() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=os.environ.get("EXPLORER_DB", "sqlite:///explore.db"))
    ap.add_argument("--runs", default=None, help="folder with saved runs and Table I files (Runtime page)")
    ap.add_argument("--read-only", action="store_true", help="serve the views only (no Run, no Export)")
    args, _ = ap.parse_known_args(sys.argv[1:])
    return args


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
