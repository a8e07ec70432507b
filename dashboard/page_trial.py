"""Trial: one configuration of one study, every measurement of it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.dashboard import queries
from explorer.dashboard.common import Ctx, configurations, study_page
from explorer.dashboard.fmt import ACC, METRICS, MISSING, decimals, label, scaled, table


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
