"""Compare: two studies' fronts on one chart."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.dashboard.common import Ctx, chart, configurations, front_of, pick_study, studies
from explorer.dashboard.fmt import ACC, COSTS, label, scaled, table


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
