"""One formatting convention for every page: accuracy in percent with 2 decimals, a unit in every
axis title and column header, "—" for a missing value."""

from __future__ import annotations

import pandas as pd
import streamlit as st

MISSING = "—"

# metric (as stored) → (label with its unit, factor from the stored value)
METRICS = {
    "accuracy": ("accuracy (%)", 100.0),
    "accuracy_plain": ("accuracy, stock BatchNorm (%)", 100.0),
    "accuracy_recal": ("accuracy, re-estimated BatchNorm (%)", 100.0),
    "latency_ms": ("latency (ms)", 1.0),
    "latency_p95_ms": ("p95 latency (ms)", 1.0),
    "macs": ("MACs (millions)", 1e-6),
    "energy_mj": ("energy (mJ)", 1.0),
}
COSTS = ("latency_ms", "latency_p95_ms", "macs", "energy_mj")
ACC = METRICS["accuracy"][0]
HV = "hypervolume (ref. point: 0 % accuracy, 1.1 × full-depth cost)"

# decimals by the unit a header ends with
# ("(count)": a float count is a mean over repeated runs, e.g. Table I's simulated rows: 159.0 and
# 203.6, not 159 beside 203.6; a whole count stays as it is, see formatter)
DECIMALS = {"(%)": 2, "(pp)": 2, "(ms)": 3, "(millions)": 2, "(mJ)": 3, "(s)": 1, "(×)": 2, "(count)": 1}


def label(metric: str) -> str:
    return METRICS.get(metric, (metric, 1.0))[0]


def scaled(df: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """Metric columns renamed to their labels and scaled to their units (the stored fractions,
    counts and milliseconds stay in the database)."""
    metrics = [m for m in (metrics or METRICS) if m in df]
    out = df.assign(**{m: df[m] * METRICS[m][1] for m in metrics if m in METRICS})
    return out.rename(columns={m: label(m) for m in metrics})


def decimals(column: str) -> int | None:
    if column.startswith("hypervolume"):
        return 4
    if column.startswith("÷"):
        return 3
    return next((d for unit, d in DECIMALS.items() if column.endswith(unit)), None)


def formatter(df: pd.DataFrame, column):
    """How one column's values are written: its unit's decimals (else 4 significant digits for
    floats), "—" where missing; None for a column shown as it is."""
    d = decimals(str(column))
    if pd.api.types.is_integer_dtype(df[column]) or (d is None and not pd.api.types.is_float_dtype(df[column])):
        return None
    spec = f"{{:,.{d}f}}" if d is not None else "{:.4g}"

    def write(v):
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return MISSING
        return spec.format(v) if isinstance(v, int | float) and not isinstance(v, bool) else str(v)

    return write


def styled(df: pd.DataFrame):
    """A Styler that shows each number with its column's decimals and "—" where a value is missing."""
    fmt = {c: f for c in df.columns if (f := formatter(df, c)) is not None}
    return df.style.format(na_rep=MISSING).format(fmt, na_rep=MISSING)


def table(df: pd.DataFrame, key: str | None = None, **kw):
    """st.dataframe in the convention; very long tables get number formats instead of a Styler
    (same decimals; a Styler renders every cell on the server)."""
    if len(df) <= 3000:
        # the browser draws a missing cell as "None" whatever a Styler says: such columns go as text
        gaps = {c: df[c].map(formatter(df, c) or (lambda v: MISSING if pd.isna(v) else v))
                for c in df.columns if df[c].isna().any()}  # fmt: skip
        return st.dataframe(styled(df.assign(**gaps)), hide_index=True, width="stretch", key=key, **kw)
    config = {c: st.column_config.NumberColumn(format=f"%.{decimals(str(c))}f")
              for c in df.columns if decimals(str(c)) is not None}  # fmt: skip
    return st.dataframe(df, hide_index=True, width="stretch", column_config=config, key=key, **kw)


def downloads(df: pd.DataFrame, name: str, key: str) -> None:
    """CSV and JSON of a table, as shown (headers with units)."""
    a, b = st.columns(2)
    a.download_button("Download CSV", df.to_csv(index=False).encode(), f"{name}.csv", "text/csv", key=f"{key}_csv")
    b.download_button("Download JSON", df.to_json(orient="records", indent=1).encode(), f"{name}.json",
                      "application/json", key=f"{key}_json")  # fmt: skip
