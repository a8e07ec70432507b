"""Strategies: hypervolume against evaluations, per strategy of one study."""

from __future__ import annotations

import streamlit as st

from explorer.dashboard import queries
from explorer.dashboard.common import Ctx, chart, report_left_out, strategy_style, study_page
from explorer.dashboard.fmt import HV, label, table


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
