"""Prints the biological-elements table of benches/sleep_search.sh as Markdown: per setting, the
final 10-class accuracy (mean ± sd over seeds), the mean accuracy on the tasks before the last
(old-task recovery) and the seconds spent sleeping per seed."""
import json
import statistics
import sys
from pathlib import Path

root = Path(sys.argv[1])
print("| setting | final accuracy | old tasks (1–4) after task 5 | sleep s/seed |")
print("|---|---|---|---|")
for d in sorted(p for p in root.iterdir() if (p / "result.json").exists()):
    r = json.loads((d / "result.json").read_text())
    finals = [run["sleep"]["accuracy"][-1] for run in r["runs"]]
    old = [statistics.mean(run["sleep"]["per_task"][-1][:-1]) for run in r["runs"]]
    slept = [sum(s["seconds"] for s in run["sleeps"]) for run in r["runs"]]
    sd = statistics.stdev(finals) if len(finals) > 1 else 0.0
    print(
        f"| {d.name} | {100 * statistics.mean(finals):.2f} ± {100 * sd:.2f} % "
        f"| {100 * statistics.mean(old):.2f} % | {statistics.mean(slept):.2f} |"
    )
