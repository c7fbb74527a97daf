#!/usr/bin/env python3
"""What the Python layer costs, measured side by side in one run: somnet's CLI and the same work
from Python, alternated, best of REPEATS each.

    target/pyenv/bin/python benches/python_overhead.py [--repeats 3] [--cuba-n 200000]

1. CUBA built and run from Python (`somnet.Network`, 1 s biological time) against
   `somnet bench cuba` (build + simulation seconds from its JSON): ratio Python / CLI.
2. Converted-network evaluation (tests/golden/lenet.snn.h5, 2 000 MNIST test images, T = 64):
   images per second from Python's Evaluation against the CLI's `--json` record.
Prints one JSON line. Needs `cargo build --release` and the package installed (tests/python.sh).
"""

import argparse
import json
import subprocess
import time
from pathlib import Path

import somnet

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "target" / "release" / "somnet"


def cli_json(*args):
    out = subprocess.run([str(CLI), *map(str, args)], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cuba_python(n, seed, t_ms):
    t0 = time.perf_counter()
    net = somnet.Network(dt_ms=0.1, seed=seed, max_delay_ms=1.0)
    lif = somnet.LIF(tau_mem_ms=20.0, v_rest_mv=-49.0, v_th_mv=-50.0, v_reset_mv=-60.0, t_ref_ms=5.0)
    pop = net.add_population("cuba", n, lif, ports=[somnet.Exponential(5.0), somnet.Exponential(10.0)])
    net.set_v_uniform(pop, -60.0, -50.0)
    n_exc, p = n * 4 // 5, min(80.0 / n, 1.0)
    net.connect(pop[:n_exc], pop, p=p, weight=1.62, delay_steps=1, port=0, name="exc")
    net.connect(pop[n_exc:], pop, p=p, weight=-9.0, delay_steps=1, port=1, name="inh")
    net.run(t_ms)
    return time.perf_counter() - t0, net.spike_digest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cuba-n", type=int, default=200_000)
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    import os
    threads = os.cpu_count()

    py_cuba, cli_cuba, digests = [], [], set()
    for _ in range(args.repeats):
        record = cli_json("bench", "cuba", "--n", args.cuba_n, "--t-ms", 1000, "--seed", 1, "--threads", threads)
        cli_cuba.append(record["construct_s"] + record["sim_s"])
        digests.add(record["spike_digest"])
        secs, digest = cuba_python(args.cuba_n, 1, 1000.0)
        py_cuba.append(secs)
        digests.add(digest)

    images, labels = somnet.datasets.load("mnist", "test", limit=args.images)
    snn = somnet.load(ROOT / "tests/golden/lenet.snn.h5")
    py_eval, cli_eval = [], []
    for _ in range(args.repeats):
        record = cli_json("evaluate", "--model", "tests/golden/lenet.snn.h5", "--dataset", "mnist",
                          "--steps", 64, "--limit", args.images, "--json")
        cli_eval.append(record["images_per_second"])
        py_eval.append(snn.evaluate(images, labels, steps=64).images_per_second)

    print(json.dumps({
        "threads": threads,
        "simd": somnet.simd_level(),
        "cuba_n": args.cuba_n,
        "cuba_python_s": min(py_cuba),
        "cuba_cli_s": min(cli_cuba),
        "cuba_ratio_python_over_cli": min(py_cuba) / min(cli_cuba),
        "cuba_same_digest": len(digests) == 1,
        "evaluate_python_images_per_s": max(py_eval),
        "evaluate_cli_images_per_s": max(cli_eval),
        "evaluate_ratio_python_over_cli": max(py_eval) / max(cli_eval),
    }))


if __name__ == "__main__":
    main()
