"""Side-by-side conversion benchmarks: somnet, SNN Toolbox and SpikingJelly run alternately on the
same models, the same MNIST test images and the same number of steps, on this machine.

    python benches/peers/conversion_driver.py MODEL.h5 [MODEL.h5 ...] [--steps 256]
        [--images 10000] [--pairs 2] [--peers snntoolbox,spikingjelly]
        [--snntoolbox-python PY] [--spikingjelly-python PY] [--keras-python PY]
        [--batch snntoolbox=250/500/1000,spikingjelly=250/500/1000] [--probe-images 1000]
        [--threads 2] [--dataset mnist|fashion-mnist]
        [--somnet target/release/somnet] [--out bench-out/conversion-peers]

A MODEL is a Keras `.h5` or a somnet model file, a chain or (SpikingJelly only) a graph such as
somnet's `resnet-small`. Each peer converts it from the same weights: SNN
Toolbox reads the Keras file (or a Keras model built from a somnet file, conv_models.to_keras);
SpikingJelly reads the somnet file (a Keras file is first written as one with
converters/keras_export.py, in --keras-python). Each converter uses its own defaults: the 99.9th
percentile of activations over every 10th training image, IF neurons, reset by subtraction,
analog input (somnet's reference settings are the same, `somnet evaluate --steps T`).

Batch sizes: each peer simulates a batch of images at once, and its best batch size depends on
the model; with several candidates (the default), each is timed on the first --probe-images
images and the fastest is used for the pairs (somnet has no batch to choose: one image per
thread, see `evaluate::BATCH`).

Per model, each pair runs somnet and then every peer once, each in its own process, so that
machine drift touches all alike. The driver prints, per model, the median of each simulator's
images/s (simulation only: conversion and calibration are reported apart), synaptic events/s
(spikes × fan-out, analog input excluded; somnet and SpikingJelly count their own spikes, SNN
Toolbox's counter is broken and it is given somnet's count, see snntoolbox_bench.py) and accuracy,
and the per-pair ratios somnet / peer of images/s. Results: OUT/runs.jsonl (every run) and
OUT/summary.json (medians and ratios).
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from conv_models import is_keras_file  # noqa: E402


def run_json(cmd):
    """The last JSON line a benchmark process prints, with the process's wall time."""
    start = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                         f"{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}")
    record = json.loads(lines[-1])
    record["process_s"] = wall
    return record


def run_somnet(args, model, out):
    """somnet's reference conversion of `model`, its figures in the peers' field names."""
    start = time.perf_counter()
    cmd = [args.somnet, "evaluate", "--model", model, "--dataset", args.dataset, "--steps", args.steps,
           "--limit", args.images, "--threads", args.threads, "--out", out]
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads((Path(out) / "result.json").read_text())
    ips = result["images_per_second"]
    return {"simulator": "somnet", "model": str(model), "steps": args.steps,
            "images": result["images"], "threads": args.threads,
            "ann_accuracy": result["ann_accuracy"], "accuracy": result["snn_accuracy"],
            "images_per_s": ips, "sim_s": result["images"] / ips,
            "events_per_image": result["synaptic_ops_per_image"],
            "events_per_s": result["synaptic_ops_per_image"] * ips, "process_s": wall}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--peers", default="snntoolbox,spikingjelly")
    ap.add_argument("--snntoolbox-python", default=sys.executable)
    ap.add_argument("--spikingjelly-python", default=sys.executable)
    ap.add_argument("--keras-python", default=None,
                    help="Python with Keras for converters/keras_export.py (default: the toolbox's)")
    ap.add_argument("--batch", default="snntoolbox=250/500/1000,spikingjelly=250/500/1000",
                    help="PEER=B[/B...]: batch sizes; with several, the fastest on a probe")
    ap.add_argument("--probe-images", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--somnet", default=str(ROOT / "target" / "release" / "somnet"))
    ap.add_argument("--dataset", default="mnist", help="mnist or fashion-mnist (the same IDX files)")
    ap.add_argument("--data", default=None, help="the peers' data folder (default: datasets/DATASET)")
    ap.add_argument("--out", default="bench-out/conversion-peers")
    args = ap.parse_args()
    args.data = args.data or str(ROOT / "datasets" / args.dataset)
    peers = [p for p in args.peers.split(",") if p]
    for p in peers:
        if p not in ("snntoolbox", "spikingjelly"):
            raise SystemExit(f"--peers: unknown peer '{p}' (snntoolbox, spikingjelly)")
    for model in args.models:
        if not Path(model).is_file():
            raise SystemExit(f"model '{model}': no such file")
    batches = {peer: ["100"] for peer in peers}
    for item in filter(None, args.batch.split(",")):
        peer, _, sizes = item.partition("=")
        batches[peer] = [b for b in sizes.split("/") if b]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras_python = args.keras_python or args.snntoolbox_python

    summary = {"steps": args.steps, "images": args.images, "pairs": args.pairs,
               "threads": args.threads, "models": {}}
    with open(out / "runs.jsonl", "a") as log:
        for m, model in enumerate(args.models):
            somnet_file = model
            if "spikingjelly" in peers and is_keras_file(model):
                somnet_file = out / f"model{m}.somnet.h5"
                subprocess.run([keras_python, ROOT / "converters" / "keras_export.py", model,
                                somnet_file], check=True, capture_output=True)
            def peer_cmd(peer, batch_size, images, probe=False):
                target = model if peer == "snntoolbox" else somnet_file
                cmd = [getattr(args, f"{peer}_python"), HERE / f"{peer}_bench.py", "--model",
                       target, "--steps", args.steps, "--images", images, "--batch", batch_size,
                       "--data", args.data]
                if peer == "snntoolbox":
                    return cmd + ["--work", out / f"snntoolbox-{m}"]
                return cmd + ["--threads", args.threads] + (["--count-images", 0] if probe else [])

            # Each peer's batch size: the fastest of its candidates on the first --probe-images
            # images (the best batch differs by model: the toolbox's LeNet ran 21.7 / 32.4 / 28.7
            # images/s at 1000 / 500 / 250 here).
            chosen, probes = {}, {}
            for peer in peers:
                sizes = batches[peer]
                if len(sizes) == 1:
                    chosen[peer] = sizes[0]
                    continue
                probes[peer] = {b: run_json(peer_cmd(peer, b, args.probe_images, True))["images_per_s"]
                                for b in sizes}
                chosen[peer] = max(sizes, key=lambda b: probes[peer][b])
                print(f"{model}: {peer} batch probe on {args.probe_images} images: " + ", ".join(
                    f"{b}: {ips:.1f}" for b, ips in probes[peer].items())
                    + f" images/s -> batch {chosen[peer]}", flush=True)

            records = {name: [] for name in ["somnet"] + peers}
            for pair in range(args.pairs):
                rec = run_somnet(args, model, out / f"somnet-{m}-{pair}")
                records["somnet"].append(rec)
                for peer in peers:
                    cmd = peer_cmd(peer, chosen[peer], args.images)
                    rec = run_json(cmd)
                    if "events_per_image" not in rec:  # the toolbox: see snntoolbox_bench.py
                        rec["events_per_image"] = records["somnet"][-1]["events_per_image"]
                        rec["events_per_s"] = rec["events_per_image"] * rec["images_per_s"]
                        rec["events_source"] = "somnet's count of the same model"
                    records[peer].append(rec)
                for name, recs in records.items():
                    recs[-1].update({"pair": pair, "model_index": m, "source": str(model)})
                    log.write(json.dumps(recs[-1]) + "\n")
                    log.flush()
                print(f"{model} pair {pair + 1}/{args.pairs}: " + ", ".join(
                    f"{name} {recs[-1]['images_per_s']:.1f} images/s" for name, recs in records.items()),
                    flush=True)

            med = lambda name, key: statistics.median(r[key] for r in records[name])
            entry = {}
            for name in records:
                entry[name] = {key: med(name, key) for key in
                               ("images_per_s", "events_per_s", "events_per_image", "accuracy",
                                "process_s")}
            for peer in peers:
                ratios = [s["images_per_s"] / p["images_per_s"]
                          for s, p in zip(records["somnet"], records[peer])]
                entry[f"somnet_over_{peer}"] = {"per_pair": ratios,
                                                "median": statistics.median(ratios)}
            entry["batch"] = chosen
            entry["batch_probe"] = probes
            summary["models"][str(model)] = entry
            # Written after every model, so that a stopped run keeps what finished.
            (out / "summary.json").write_text(json.dumps(summary, indent=2))

            print(f"\n{model}, T = {args.steps}, {args.images} images, {args.pairs} pairs (medians)")
            print(f"{'simulator':<14}{'images/s':>10}{'events/s':>12}{'events/image':>14}"
                  f"{'accuracy':>10}{'process s':>11}")
            for name in records:
                e = entry[name]
                print(f"{name:<14}{e['images_per_s']:>10.1f}{e['events_per_s']:>12.3g}"
                      f"{e['events_per_image']:>14.3g}{100 * e['accuracy']:>9.2f}%"
                      f"{e['process_s']:>11.1f}")
            for peer in peers:
                r = entry[f"somnet_over_{peer}"]
                print(f"somnet / {peer}: {r['median']:.1f}x (pairs: "
                      + ", ".join(f"{x:.1f}" for x in r["per_pair"]) + ")")


if __name__ == "__main__":
    main()
