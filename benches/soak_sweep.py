#!/usr/bin/env python3
"""Soak benchmark: a long `somnet sweep` with its resident memory sampled every 0.2 s.

A sweep that runs for hours must not grow: every grid point converts, evaluates and drops its
network, and only the rows stay. This runs one sweep of many grid points (Poisson seeds, so every
point does the full work) and writes soak.csv (time, RSS, grid points finished) and soak.json
(RSS after the first point, at the end, the peak, and the growth per point by least squares).

    python3 benches/soak_sweep.py --points 40 --out target/soak
"""

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def rows_done(path):
    try:
        return len(json.loads(path.read_text())["rows"])
    except (OSError, ValueError, KeyError):
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=40)
    ap.add_argument("--model", default=str(ROOT / "tests/golden/lenet.snn.h5"))
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--out", default=str(ROOT / "target/soak"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    binary = os.environ.get("SOMNET_BIN", str(ROOT / "target/release/somnet"))
    seeds = ",".join(str(s) for s in range(1, args.points + 1))
    cmd = [binary, "sweep", "--model", args.model, "--grid", f"input=poisson;seed={seeds}",
           "--steps", str(args.steps), "--limit", str(args.limit), "--calibration-limit", "500",
           "--out", str(out / "sweep")]
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    samples = []
    while proc.poll() is None:
        r = rss_mib(proc.pid)
        if r is not None:
            samples.append((time.time() - start, r, rows_done(out / "sweep" / "sweep.json")))
        time.sleep(0.2)
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed ({proc.returncode}): {' '.join(cmd)}")
    with open(out / "soak.csv", "w") as f:
        f.write("seconds,rss_mib,points_done\n")
        for t, r, k in samples:
            f.write(f"{t:.2f},{r:.1f},{k}\n")
    # Memory once the first point finished (allocations of the run in place) and from then on.
    steady = [(k, r) for _, r, k in samples if k >= 1]
    first = steady[0][1] if steady else float("nan")
    n = len(steady)
    if n >= 2:
        mk = sum(k for k, _ in steady) / n
        mr = sum(r for _, r in steady) / n
        var = sum((k - mk) ** 2 for k, _ in steady)
        slope = sum((k - mk) * (r - mr) for k, r in steady) / var if var else 0.0
    else:
        slope = float("nan")
    summary = {
        "points": args.points,
        "seconds": round(time.time() - start, 1),
        "rss_after_first_point_mib": round(first, 1),
        "rss_at_end_mib": round(steady[-1][1], 1) if steady else None,
        "rss_peak_mib": round(max(r for _, r, _ in samples), 1),
        "growth_mib_per_point": round(slope, 4),
        "command": " ".join(cmd),
    }
    (out / "soak.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
