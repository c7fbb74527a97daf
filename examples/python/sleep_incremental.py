#!/usr/bin/env python3
"""Class-incremental MNIST with sleep replay consolidation (Tadros et al. 2022) and its controls,
on a reduced setting by default (the released one: --per-task 5000 --hidden 1200 1200 --seeds 5).

    python examples/python/sleep_incremental.py [--seeds 2] [--per-task 1000] [--hidden 256 256]
"""

import argparse

import somnet

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seeds", type=int, default=2)
parser.add_argument("--per-task", type=int, default=1000)
parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
parser.add_argument("--out", default="incremental-out")
args = parser.parse_args()

record = somnet.incremental("mnist", args.seeds, per_task=args.per_task, hidden=args.hidden,
                            out=args.out, progress=True)
m, sd = record.final_accuracy, record.final_accuracy_sd
print(f"final accuracy over {len(record.seeds)} seeds: sleep {100 * m.sleep:.1f} ± {100 * sd.sleep:.1f} %, "
      f"sequential {100 * m.sequential:.1f} ± {100 * sd.sequential:.1f} %, joint {100 * m.joint:.1f} %")
