"""`explorer report`: regenerate docs/results.md and its plots from the database and saved runs."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from explorer.cli import app
from explorer.cli.common import make_console
from explorer.report import ReportError, build_report
from explorer.storage import Database
from explorer.study import DEFAULT_DB


@app.command("report")
def report_cmd(
    spec: Path = typer.Option(
        Path("docs/report.json"), "--spec", help="JSON naming the studies and files of each part."
    ),
    db: str = typer.Option(DEFAULT_DB, "--db", help="SQLAlchemy URL of the results database."),
    out: Path = typer.Option(Path("docs"), "--out", help="Folder for results.md and img/*.png."),
) -> None:
    """The paper's figures and claims (Fig. 1, Fig. 6, Table I, strategies, BatchNorm, p_L) as results.md + PNGs.

    Deterministic: the same database, files and spec give the same bytes."""
    try:
        doc = json.loads(spec.read_text())
    except OSError as e:
        raise ReportError(
            f"cannot read report spec {spec} ({e.strerror}): see explorer/report.py for its format"
        ) from None
    except ValueError as e:
        raise ReportError(f"report spec {spec} is not valid JSON ({e})") from None
    path, plots = build_report(Database(db, create=False), doc, out)
    make_console().print(f"wrote {path} and {len(plots)} plots: {', '.join(p.name for p in plots)}")
