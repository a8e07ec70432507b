"""Export a bundle (an action): the same code as `explorer export`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from explorer.dashboard import queries
from explorer.dashboard.common import Ctx, study_page
from explorer.dashboard.fmt import downloads, label, scaled, table


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
