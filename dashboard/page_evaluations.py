"""Evaluations: every configuration of one study with all its metrics, and what is left out."""

from __future__ import annotations

import streamlit as st

from explorer.dashboard.common import Ctx, configurations, report_left_out, study_page
from explorer.dashboard.fmt import METRICS, downloads, label, scaled, table


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
