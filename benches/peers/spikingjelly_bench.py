"""SpikingJelly 2.0 on one model: convert with its ann2snn converter, simulate MNIST test images
batched on the CPU, print one JSON line. Run in the environment of requirements-spikingjelly.txt.

    python benches/peers/spikingjelly_bench.py --model M.h5 [--steps 256] [--images 10000]
        [--batch 100] [--threads 2] [--count-images 200] [--data datasets/mnist]

M is a somnet model file (a Keras `.h5` is first written as one by converters/keras_export.py;
conversion_driver.py does that), built as a PyTorch module by conv_models.to_torch. The converter
is SpikingJelly's rate-coding recipe as its MNIST example runs it: `RateCodingRecipe(mode="99.9%")`
calibrated on every 10th training image (the calibration set somnet and SNN Toolbox use), IF
neurons with reset by subtraction, analog input every step, the output layer's values summed over
the steps (its readout). Simulation is SpikingJelly's single-step loop under `torch.no_grad()`,
as its examples run it; `convert_s` is the conversion with calibration, `sim_s` the simulation.

Synaptic events: after the timed run, the first --count-images images run again with a hook
before every Linear and Conv2d layer fed by spikes (all but the first) counting each non-zero input
× its fan-out (out_features, or for a convolution the output positions and channels it reaches,
computed once by a transposed convolution of ones), per step.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import conv_models  # noqa: E402


def batches(x, y, size):
    for i in range(0, len(x), size):
        yield x[i:i + size], y[i:i + size]


def simulate(snn, x, y, steps, batch, torch, functional):
    """Correct decisions after every step (summed over images)."""
    correct = np.zeros(steps)
    with torch.no_grad():
        for xb, yb in batches(x, y, batch):
            functional.reset_net(snn)
            out = None
            for t in range(steps):
                step = snn(xb)
                out = step if out is None else out + step
                correct[t] += (out.argmax(1) == yb).sum().item()
    return correct


def count_events(snn, x, y, steps, batch, torch, functional):
    """Mean synaptic events per image (non-zero inputs of spike-fed weighted layers × fan-out)."""
    import torch.nn.functional as F
    total = [0.0]
    fanouts = {}

    def hook(module, inputs):
        s = inputs[0]
        if isinstance(module, torch.nn.Linear):
            total[0] += float((s != 0).sum()) * module.out_features
            return
        key = (id(module), tuple(s.shape[1:]))
        if key not in fanouts:
            ones = torch.ones_like(module.weight)
            out = F.conv2d(torch.zeros(1, *s.shape[1:]), ones, None, module.stride,
                           module.padding, module.dilation)
            fan = F.conv_transpose2d(torch.ones_like(out), ones, stride=module.stride,
                                     padding=module.padding, dilation=module.dilation)
            full = torch.zeros(1, *s.shape[1:])
            full[..., :fan.shape[2], :fan.shape[3]] = fan[..., :s.shape[2], :s.shape[3]]
            fanouts[key] = full
        total[0] += float(((s != 0) * fanouts[key]).sum())

    weighted = [m for m in snn.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    handles = [m.register_forward_pre_hook(hook) for m in weighted[1:]]
    simulate(snn, x, y, steps, batch, torch, functional)
    for h in handles:
        h.remove()
    return total[0] / len(x)


def main():
    ap = conv_models.bench_arguments()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--count-images", type=int, default=200)
    args = ap.parse_args()
    start = time.perf_counter()
    import torch
    from spikingjelly.activation_based import ann2snn, functional
    torch.set_num_threads(args.threads)

    ann = conv_models.to_torch(args.model)
    shape, _, _ = conv_models.read(args.model)
    x_train, _, x_test, y_test = conv_models.mnist(args.data)
    nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).reshape(
        len(a), *shape)
    x = nchw(x_test[:args.images])
    y = torch.from_numpy(y_test[:args.images].astype(np.int64))
    with torch.no_grad():
        ann_accuracy = float((ann(x).argmax(1) == y).float().mean())

    t0 = time.perf_counter()
    calibration = list(torch.split(nchw(x_train[::10]), args.batch))
    recipe = ann2snn.RateCodingRecipe(dataloader=calibration, mode="99.9%")
    snn = ann2snn.FXConverter(recipe=recipe, device="cpu").convert(ann).eval()
    convert_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    correct = simulate(snn, x, y, args.steps, args.batch, torch, functional)
    sim_s = time.perf_counter() - t0
    process_s = time.perf_counter() - start

    n = min(args.count_images, args.images)
    events = count_events(snn, x[:n], y[:n], args.steps, args.batch, torch, functional) if n else 0.0
    print(json.dumps({
        "simulator": "spikingjelly", "model": args.model, "steps": args.steps,
        "images": args.images, "batch": args.batch, "threads": args.threads,
        "ann_accuracy": ann_accuracy, "accuracy": correct[-1] / args.images,
        "convert_s": convert_s, "sim_s": sim_s, "process_s": process_s,
        "images_per_s": args.images / sim_s, "events_per_image": events,
        "events_per_s": events * args.images / sim_s, "count_images": n,
    }), flush=True)


if __name__ == "__main__":
    main()
