"""Cold and warm render times of the dashboard's pages, two versions of the app side by side.

Each measurement is a fresh Python process (nothing cached in memory) that runs the app with
streamlit.testing.AppTest (server side: the script run with its queries, no browser drawing):
  server   what `streamlit run` does once at server start, before any browser connects: the scan of
           every installed distribution for Streamlit components (AppTest does it inside its first
           run; measured apart since 2026-11-30, so "cold" is the page's own first render)
  cold     the first render (Studies, the landing page), imports of the app's modules included
           (before 2026-11-30 it imported torch through explorer.config)
  first    the first visit of each other page after that (its study is the default one)
  warm     a second visit of the same page
Rounds alternate the versions (before, after, before, after, ...): both see the same load.

    git worktree add /tmp/dash-before <commit>      # the old app
    ln -s ../dashboard /tmp/dash-before/explorer/dashboard   # (+ search, evaluators) so it imports as a package
    python benchmarks/dashboard_pages.py --db sqlite:///report.db --before /tmp/dash-before --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
PAGES = ("Trade-offs", "Strategies", "Blocks", "Evaluations", "Trial", "Compare", "Runtime")


def child(app: str, db: str) -> None:
    from streamlit.testing.v1 import AppTest

    sys.argv = ["app", "--db", db]
    out = {}
    at = AppTest.from_file(app, default_timeout=900)
    t = time.perf_counter()
    server_start(at)
    out["server"] = time.perf_counter() - t
    t = time.perf_counter()
    at.run()
    out["cold"] = time.perf_counter() - t
    assert not at.exception, [e.message for e in at.exception]
    options = at.sidebar.radio(key="page").options
    for visit in ("first", "warm"):
        for page in [p for p in PAGES if p in options]:
            t = time.perf_counter()
            at.sidebar.radio(key="page").set_value(page).run()
            out[f"{visit} {page}"] = time.perf_counter() - t
            assert not at.exception, (page, [e.message for e in at.exception])
    print(json.dumps(out))


def server_start(at) -> None:
    """The component scan a real server runs in Runtime.__init__, done ahead for AppTest (a private
    attribute of streamlit 1.67's AppTest; an older streamlit has no scan and skips this)."""
    try:
        from streamlit.components.v2.component_manager import BidiComponentManager
    except ImportError:
        return
    if hasattr(at, "_bidi_component_manager"):
        manager = BidiComponentManager()
        manager.discover_and_register_components(start_file_watching=False)
        at._bidi_component_manager = manager


def measure(root: Path, db: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)} if root != HERE else dict(os.environ)
    cmd = [sys.executable, __file__, "--child", str(root / "dashboard" / "app.py"), "--db", db]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, check=False)
    if res.returncode:
        raise SystemExit(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--before", type=Path, help="a checkout of the old app (see the docstring); required")
    ap.add_argument("--after", type=Path, default=HERE)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.db)
    if args.before is None:
        ap.error("--before DIR (a checkout of the old app) is required")
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for r in range(args.rounds):
        for name, root in (("before", args.before), ("after", args.after)):
            m = measure(root.resolve(), args.db)
            runs[name].append(m)
            print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in m.items()), flush=True)
    keys = list(dict.fromkeys(k for ms in runs.values() for m in ms for k in m))
    print(f"\nmedian of {args.rounds} (s) | before | after")
    for k in keys:
        cells = [statistics.median(m[k] for m in runs[n]) if all(k in m for m in runs[n]) else None for n in runs]
        print(f"| {k} | " + " | ".join("—" if c is None else f"{c:.2f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
