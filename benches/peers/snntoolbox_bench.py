"""SNN Toolbox 0.6 on one model: convert with its defaults, simulate MNIST test images, print one
JSON line. Run in the environment of requirements-snntoolbox.txt (Keras 2 / TF 2.15).

    python benches/peers/snntoolbox_bench.py --model M.h5 [--steps 256] [--images 10000]
        [--batch 100] [--count-images 200] [--data datasets/mnist] [--work DIR]

M is a Keras `.h5` (given to the toolbox as it is) or a somnet model file (built as a Keras model by
conv_models.to_keras). The toolbox's defaults (converters spec: 99.9th percentile of non-zero
activations over every 10th training image, reset by subtraction, analog input, its INI
simulator with `temporal_mean_rate` coding) are kept; only `batch_size` (default 1, which no one
benchmarks with) and the number of images are set. The pipeline is run step by step so that
parsing and normalisation (`convert_s`) and simulation (`sim_s`) are timed apart; the toolbox's own
ANN evaluation on each batch (part of its `run`) is inside `sim_s`, as it is for any user.

Synaptic events are not reported: the toolbox's operation counter (`log_vars =
{'synaptic_operations_b_t'}`) reads zero with TF 2.15 (its spike layers write `spikes × time` with
the time of the traced graph, 0), so conversion_driver.py gives the toolbox somnet's count of the
same model, which converts by the same rule (same percentile over the same images, same neuron and
reset, accuracies within a few images of each other).
"""

import configparser
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# TensorFlow 2.15 turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI/BF16 or
# AMX; elsewhere (this project's AVX2 machine) they must be asked for, and the toolbox's LeNet
# simulates 1.3x faster with them (19.6 -> 25.3 images/s on 1 000 images). The peer gets its
# fastest kernels; a caller's own setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import conv_models  # noqa: E402


def config_for(work, data, steps, batch, images, log_vars="{}"):
    from snntoolbox.bin.utils import update_setup
    cfg = configparser.ConfigParser()
    cfg["paths"] = {"path_wd": str(work), "dataset_path": str(data), "filename_ann": "model",
                    "log_dir_of_current_run": str(work / "log")}
    cfg["tools"] = {"evaluate_ann": "False"}
    cfg["simulation"] = {"duration": str(steps), "batch_size": str(batch),
                         "num_to_test": str(images)}
    cfg["output"] = {"log_vars": log_vars, "plot_vars": "{}"}
    path = work / "config.ini"
    with open(path, "w") as f:
        cfg.write(f)
    return update_setup(str(path))


def build(config):
    """The toolbox's parse, normalise and build steps (its run_pipeline without the evaluation)."""
    from importlib import import_module
    from snntoolbox.bin.utils import import_target_sim
    from snntoolbox.conversion.utils import normalize_parameters
    from snntoolbox.datasets.utils import get_dataset

    normset, testset = get_dataset(config)
    lib = import_module("snntoolbox.parsing.model_libs.keras_input_lib")
    model = lib.load(config.get("paths", "path_wd"), config.get("paths", "filename_ann"))
    parser = lib.ModelParser(model["model"], config)
    parser.parse()
    parsed = parser.build_parsed_model()
    normalize_parameters(parsed, config, **normset)
    snn = import_target_sim(config).SNN(config, None)
    snn.build(parsed, **testset)
    return snn, testset


def main():
    ap = conv_models.bench_arguments()
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    if args.images % args.batch:
        raise SystemExit(f"--images {args.images} is not a multiple of --batch {args.batch} "
                         "(the toolbox skips a last partial batch)")
    start = time.perf_counter()
    import tensorflow as tf
    work = Path(args.work or tempfile.mkdtemp(prefix="snntb-"))
    # The toolbox caches normalisation factors in its working folder and reads them back for
    # any model: a folder used before must not leak into this run.
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if conv_models.is_keras_file(args.model):
        shutil.copy(args.model, work / "model.h5")
    else:
        model = conv_models.to_keras(args.model, tf.keras)
        # The toolbox's loader recompiles with the saved loss and optimizer.
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.save(work / "model.h5")
    x_train, _, x_test, y_test = conv_models.mnist(args.data)
    x_test, y_test = x_test[:args.images], y_test[:args.images]
    np.savez_compressed(work / "x_norm.npz", arr_0=x_train[::10])
    np.savez_compressed(work / "x_test.npz", arr_0=x_test)
    np.savez_compressed(work / "y_test.npz", arr_0=np.eye(10, dtype=np.float32)[y_test])

    config = config_for(work, work, args.steps, args.batch, args.images)
    t0 = time.perf_counter()
    snn, testset = build(config)
    convert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    accuracy = float(snn.run(**testset))
    sim_s = time.perf_counter() - t0
    process_s = time.perf_counter() - start

    print(json.dumps({
        "simulator": "snntoolbox", "model": args.model, "steps": args.steps, "images": args.images,
        "batch": args.batch, "accuracy": accuracy, "convert_s": convert_s, "sim_s": sim_s,
        "process_s": process_s, "images_per_s": args.images / sim_s,
    }), flush=True)


if __name__ == "__main__":
    main()
