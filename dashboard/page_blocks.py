"""Blocks: which gated blocks the study's front skips."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from explorer.dashboard import queries
from explorer.dashboard.common import Ctx, chart, study_page
from explorer.dashboard.fmt import label, table


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
