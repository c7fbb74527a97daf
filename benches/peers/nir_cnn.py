"""somnet against the exporting framework on the NIR paper's N-MNIST network, side by side.

The network is `tests/nir/cnn_sinabs.nir` (Sinabs' conversion: 34×34×2 input, three conv IF
layers, two dense; Pedersen et al. 2024). Seeded random binary events (N-MNIST-like density) are
run through Sinabs' own CPU simulation of the file (`sinabs.from_nir`) and through
`somnet simulate --from sinabs`, alternating chunk by chunk on the same machine with the same
thread count; prints one JSON line per chunk and a summary with the ratio.

    python -m venv env && env/bin/pip install -r ../../tests/nir/frameworks/requirements.txt
    env/bin/python benches/peers/nir_cnn.py [--samples 1000] [--steps 300] [--chunk 50]
        [--density 0.02] [--threads 2]

Run from the repository root after `cargo build --release`.
"""

import argparse
import json
import pathlib
import subprocess
import tempfile
import time

import nir
import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--density", type=float, default=0.02)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    import sinabs

    torch.set_num_threads(args.threads)
    graph_path = ROOT / "tests/nir/cnn_sinabs.nir"
    graph = nir.read(graph_path)
    somnet = ROOT / "target/release/somnet"
    rng = np.random.default_rng(args.seed)
    totals = {"sinabs_s": 0.0, "somnet_s": 0.0, "somnet_process_s": 0.0}
    agree, outputs = 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for start in range(0, args.samples, args.chunk):
            b = min(args.chunk, args.samples - start)
            x = (rng.random((b, args.steps, 2, 34, 34)) < args.density).astype(np.float32)
            np.save(tmp / "x.npy", x)
            # somnet: the CLI as a user runs it (process time) and its own timing of the run.
            t0 = time.perf_counter()
            subprocess.run(
                [somnet, "simulate", "--nir", graph_path, "--input", tmp / "x.npy",
                 "--out", tmp / "out", "--from", "sinabs", "--threads", str(args.threads)],
                check=True, stdout=subprocess.DEVNULL,
            )
            process_s = time.perf_counter() - t0
            record = json.loads((tmp / "out/result.json").read_text())
            ours = np.load(tmp / "out/output.npy")
            # Sinabs: its own import of the file, batched over samples × steps.
            model = sinabs.from_nir(graph, batch_size=b)
            xt = torch.from_numpy(x).reshape(b * args.steps, 2, 34, 34)
            t0 = time.perf_counter()
            with torch.no_grad():
                y = model(xt)
                # nirtorch's executor returns (output, state).
                y = y[0] if isinstance(y, tuple) else y
                theirs = y.reshape(b, args.steps, 10).numpy()
            sinabs_s = time.perf_counter() - t0
            totals["sinabs_s"] += sinabs_s
            totals["somnet_s"] += record["seconds"]
            totals["somnet_process_s"] += process_s
            agree += int((ours == theirs).sum())
            outputs += ours.size
            print(json.dumps({"samples": b, "sinabs_s": round(sinabs_s, 3),
                              "somnet_s": round(record["seconds"], 3),
                              "somnet_process_s": round(process_s, 3)}), flush=True)
    print(json.dumps({
        "network": "cnn_sinabs.nir", "samples": args.samples, "steps": args.steps,
        "density": args.density, "threads": args.threads, **{k: round(v, 2) for k, v in totals.items()},
        "speedup_run": round(totals["sinabs_s"] / totals["somnet_s"], 2),
        "speedup_process": round(totals["sinabs_s"] / totals["somnet_process_s"], 2),
        "outputs_equal_fraction": round(agree / outputs, 5),
    }))


if __name__ == "__main__":
    main()
