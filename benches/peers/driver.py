"""Side-by-side simulator benchmarks: somnet and its peers run alternately on this machine.

    python benches/peers/driver.py [--networks cuba,coba,izhikevich:1000/10000,polychronization:1000@10000]
        [--sizes 4000,40000,200000] [--t-ms 1000]
        [--pairs 3] [--peers brian2-standalone,nest] [--peer-max-n brian2-runtime=4000]
        [--brian2-python PY] [--nest-python PY]
        [--somnet target/release/somnet-bench] [--out bench-out/peers]

For every network and size, each pair runs somnet (1 and 2 threads, the better counted) and then
every peer once, in that order, so that machine drift touches all alike. Every run is its own
process; its JSON line (the fields of `somnet bench`) is kept with the process's wall time. The
driver prints, per network and size, the median of each simulator and the per-pair ratios peer /
somnet of simulation time, construction, whole process and peak memory, and the rates (which
must agree: the peers draw their own random networks, so rates agree only statistically).

A network may carry its own sizes (`izhikevich:1000/10000`) and simulated time in ms
(`polychronization:1000@10000`: its first second is a transient); the others take --sizes and
--t-ms. NEST has no synapse with the polychronization network's rule, so it sits that one out.
`--brian2-coba-method exponential_euler` has Brian2 integrate `coba` by somnet's scheme
(exponential Euler) instead of the benchmark script's forward Euler, for a like-for-like timing of
that scheme (`coba-euler` is the like-for-like timing of forward Euler).
`--peer-max-n PEER=N` leaves a peer out above N neurons (Brian2's runtime mode takes minutes per
run at 200k and is never the best peer there). NEST runs on 1 and 2 threads below 40 000 neurons
and on 2 above (where 2 always won). Brian2's standalone mode runs on 1 and 2 OpenMP threads
(`--brian2-threads`), the better counted, as somnet and NEST are.

Peers: `brian2-standalone` and `brian2-runtime` (benches/peers/brian2_bench.py, in the Python of
--brian2-python with requirements-brian2.txt) and `nest` (benches/peers/nest_bench.py with
requirements-nest.txt, 1 and 2 threads, the better counted). Results go to OUT/runs.jsonl (every
run) and OUT/summary.json (the medians and ratios).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(cmd, env=None):
    """(record, wall seconds) of one benchmark process."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    record = json.loads(lines[-1])
    record["process_s"] = wall
    return record


def best(records):
    """The run with the shortest simulation (of a simulator's thread counts)."""
    return min(records, key=lambda r: r["sim_s"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--networks", default="cuba,coba")
    ap.add_argument("--sizes", default="4000,40000,200000")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--peers", default="brian2-standalone,nest")
    ap.add_argument("--brian2-python", default=sys.executable)
    ap.add_argument("--nest-python", default=sys.executable)
    ap.add_argument("--brian2-threads", default="1,2",
                    help="OpenMP thread counts of Brian2's standalone mode, the best counted")
    ap.add_argument("--brian2-coba-method", choices=["euler", "exponential_euler"],
                    default="euler",
                    help="Brian2's state updater for `coba` (the benchmark script's: euler; "
                         "exponential_euler is somnet's `coba` scheme). `coba-euler` is always "
                         "euler")
    ap.add_argument("--somnet", default="target/release/somnet-bench")
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="bench-out/peers")
    ap.add_argument("--peer-max-n", default="",
                    help="PEER=N,...: leave PEER out of networks above N neurons")
    args = ap.parse_args()
    brian2_threads = [int(t) for t in args.brian2_threads.split(",") if t]
    max_n = {}
    for item in filter(None, args.peer_max_n.split(",")):
        peer, _, limit = item.partition("=")
        max_n[peer] = int(limit)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_file = open(out / "runs.jsonl", "a")
    peers = [p for p in args.peers.split(",") if p]
    summary = {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
               "brian2_coba_method": args.brian2_coba_method, "results": []}
    for spec in args.networks.split(","):
        spec, _, t_ms = spec.partition("@")
        network, _, own = spec.partition(":")
        sizes = own.split("/") if own else args.sizes.split(",")
        t_ms = float(t_ms) if t_ms else args.t_ms
        for n in map(int, sizes):
            common = ["--n", str(n), "--t-ms", str(t_ms), "--seed", str(args.seed)]
            pairs = []
            for k in range(args.pairs):
                pair = {}
                somnet = [
                    run([args.somnet, network, *common, "--threads", str(t)]) for t in (1, 2)
                ]
                pair["somnet"] = best(somnet)
                for peer in peers:
                    if peer == "nest" and network == "polychronization":
                        continue
                    if n > max_n.get(peer, n):
                        continue
                    if peer.startswith("brian2"):
                        mode = peer.split("-", 1)[1]
                        cmd = [args.brian2_python, str(HERE / "brian2_bench.py"), network,
                               *common, "--mode", mode]
                        if network == "coba":
                            cmd += ["--coba-method", args.brian2_coba_method]
                        threads = brian2_threads if mode == "standalone" else [1]
                        pair[peer] = best([run([*cmd, "--threads", str(t)]) for t in threads])
                        if network == "coba":
                            pair[peer]["coba_method"] = args.brian2_coba_method
                    elif peer == "nest":
                        pair[peer] = best([
                            run([args.nest_python, str(HERE / "nest_bench.py"), network,
                                 *common, "--threads", str(t)])
                            for t in ((1, 2) if n < 40000 else (2,))
                        ])
                    else:
                        raise SystemExit(f"unknown peer {peer!r}")
                for name, rec in pair.items():
                    runs_file.write(json.dumps({"pair": k, "who": name, **rec}) + "\n")
                runs_file.flush()
                pairs.append(pair)
                print(f"{network} {n} pair {k + 1}/{args.pairs}: "
                      + ", ".join(f"{w} {r['sim_s']:.3f} s" for w, r in pair.items()),
                      file=sys.stderr)
            summary["results"].append({"t_ms": t_ms, **report(network, n, pairs)})
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def report(network, n, pairs):
    """Medians and per-pair ratios for one network and size; printed and returned."""
    who = list(pairs[0])
    med = {
        w: {
            key: statistics.median(p[w][key] for p in pairs if p[w].get(key) is not None)
            for key in ("sim_s", "construct_s", "process_s", "peak_rss_mib", "rate_hz")
        }
        for w in who
    }
    ratios = {
        w: {
            key: [p[w][key] / p["somnet"][key] for p in pairs]
            for key in ("sim_s", "construct_s", "process_s", "peak_rss_mib")
        }
        for w in who if w != "somnet"
    }
    print(f"\n## {network} {n}")
    print("| simulator | sim s | construct s | process s | peak MiB | rate Hz |")
    print("|---|---|---|---|---|---|")
    for w in who:
        m = med[w]
        print(f"| {w} | {m['sim_s']:.3f} | {m['construct_s']:.3f} | {m['process_s']:.2f} "
              f"| {m['peak_rss_mib']:.0f} | {m['rate_hz']:.2f} |")
    for w, r in ratios.items():
        sims = ", ".join(f"{x:.1f}" for x in r["sim_s"])
        print(f"{w} / somnet: simulation {statistics.median(r['sim_s']):.1f}x (pairs: {sims}), "
              f"whole process {statistics.median(r['process_s']):.1f}x, "
              f"peak memory {statistics.median(r['peak_rss_mib']):.1f}x")
    return {"network": network, "n": n, "medians": med, "ratios": ratios,
            "threads": {w: [p[w]["threads"] for p in pairs] for w in who}}


def machine():
    """CPU model and core count, for the record."""
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count()}


if __name__ == "__main__":
    main()
