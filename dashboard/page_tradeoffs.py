"""Trade-offs: one study's configurations, accuracy against a cost, with filters and its front."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly import colors

from explorer.dashboard import queries
from explorer.dashboard.common import (
    Ctx,
    chart,
    configurations,
    evaluations,
    front_of,
    report_left_out,
    strategy_style,
    study_page,
)
from explorer.dashboard.fmt import ACC, COSTS, MISSING, downloads, label, scaled, table
from explorer.storage.models import REFERENCE


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
