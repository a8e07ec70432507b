"""Studies: every study of the database, with its front size and hypervolume."""

from __future__ import annotations

import streamlit as st

from explorer.dashboard.common import Ctx, studies, study_summary
from explorer.dashboard.fmt import HV, MISSING, label, table

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
