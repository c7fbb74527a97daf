"""Summary table of low-latency benchmark runs (benches/low_latency.sh, benches/resnet.sh,
benches/ttfs.sh).

Usage: python3 benches/summarize_low_latency.py OUT_DIR RUN [RUN ...]
Reads OUT_DIR/RUN/result.json for each run, prints the table and writes OUT_DIR/summary.tsv.
Standard library only.
"""

import json
import os
import sys


def main():
    out, names = sys.argv[1], sys.argv[2:]
    rows = ["run\tpre-run\tT\tANN %\tSNN %\tgap pp\tsteps to ANN-0.5pp\tenergy SNN/ANN at T\t"
            "energy SNN/ANN at ANN-0.5pp\tspikes per neuron\timages/s"]
    for name in names:
        r = json.load(open(os.path.join(out, name, "result.json")))
        at = r.get("energy_at_latency", {}).get("0.5pp")
        # Spikes per neuron per image over the whole run (time-to-first-spike coding: at most 1).
        neurons = sum(layer["neurons"] for layer in r["layers"])
        spikes = sum(layer["spikes_per_image"] for layer in r["layers"])
        # Offset-spike calibration's pre-run steps (counted in latency and energy), 0 without.
        pre = r.get("options", {}).get("offset_presteps", 0)
        rows.append("\t".join([
            name, str(pre), str(r["steps"]), f"{100 * r['ann_accuracy']:.2f}", f"{100 * r['snn_accuracy']:.2f}",
            f"{100 * (r['ann_accuracy'] - r['snn_accuracy']):.2f}", str(at["steps"]) if at else "-",
            f"{r['energy_pj']['ratio']:.3f}", f"{at['ratio']:.3f}" if at else "-",
            f"{spikes / max(neurons, 1):.3f}",
            f"{r['images_per_second']:.1f}"]))
    open(os.path.join(out, "summary.tsv"), "w").write("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
