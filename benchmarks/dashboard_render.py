"""Time for the dashboard to produce the Trade-offs page (server side: the Streamlit script run,
queries included, measured with streamlit.testing.AppTest; no browser drawing), median of runs.

    explorer search --checkpoint CKPT --strategy random --budget 10000 --objective macs --limit 10 \
        --db sqlite:///big.db --study big
    python benchmarks/dashboard_render.py --db sqlite:///big.db --study big
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--study", required=True)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sys.argv = ["app", "--db", args.db]
    times = []
    for _ in range(args.runs):
        at = AppTest.from_file(APP, default_timeout=600)
        at.session_state["page"] = "Trade-offs"
        at.session_state["study"] = args.study
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
        assert not at.exception, at.exception
    caption = at.caption[0].value if at.caption else ""
    print(f"Trade-offs page: median {statistics.median(times):.2f} s over {args.runs} runs ({caption.split(';')[0]})")


if __name__ == "__main__":
    main()
