"""N learners open the served app at once: seconds from page load to the first frame.

    python3 bench/browser_sessions.py --sessions 5 --out bench/results/browser-sessions.json

Each browser context is a learner with their own name (so their own app process). The
first frame is the moment the home syllabus is on that page's screen.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from bench.browser import Served, TerminalPage, launch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rounds = []
    for round_ in range(args.rounds):
        served = Served(Path(tempfile.mkdtemp(prefix="browser-bench-")) / "class")
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                pages = [TerminalPage(browser.new_context(viewport={"width": 1000, "height": 700}))
                         for _ in range(args.sessions)]
                started = time.monotonic()
                for n, page in enumerate(pages):
                    page.page.goto(f"{served.url}/?learner=learner{n}", wait_until="commit")
                first_frames = []
                for page in pages:
                    page.wait_for_text("1 Why QLoRA", timeout=300)
                    first_frames.append(time.monotonic() - started)
                browser.close()
        finally:
            served.stop()
        rounds.append([round(s, 2) for s in first_frames])
        print(f"round {round_ + 1}: first frames {rounds[-1]} s")
    last = [max(r) for r in rounds]
    result = {"sessions": args.sessions, "rounds": rounds, "machine": f"{os.cpu_count()} cores, {platform.machine()}",
              "slowest_first_frame_median_s": statistics.median(last), "slowest_first_frame_best_s": min(last)}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
