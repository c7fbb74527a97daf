"""CUBA and COBA in Brian2, exactly as `somnet bench` builds them, printing the same JSON line.

    python benches/peers/brian2_bench.py cuba|coba --n N [--seed S] [--t-ms T]
        [--mode standalone|runtime] [--dir DIR]

The networks are those of ../../shared/specs/benchmarks.md (Brette et al. 2007, benchmarks 1 and
2): CUBA with exact integration of its linear equations, COBA with forward Euler (its equations
are not linear with constant coefficients, so Brian2 does not integrate them exactly); synapses act
on the next step (Brian2's default), dt 0.1 ms, every spike recorded.

Modes: `standalone` generates C++, compiles it and runs the binary as a child of this script (the
binary's own peak memory is reported; `construct_s` is code generation and compilation plus the
binary's set-up, `sim_s` the run loop Brian2 reports); `runtime` runs Brian2's Cython runtime in
this process (`construct_s` includes Cython compilation on a cold cache).

Requirements: benches/peers/requirements-brian2.txt, a C++ compiler and GNU time (Debian
packages g++ and time).
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time

import numpy as np


def build(b2, network, n):
    """The network of `n` neurons and its spike monitor (units from brian2)."""
    ms, mV, nS, pF = b2.ms, b2.mV, b2.nS, b2.pF
    n_exc = n * 4 // 5
    p = min(1.0, 80.0 / n)
    if network == "cuba":
        ns = {
            "taum": 20 * ms, "taue": 5 * ms, "taui": 10 * ms,
            "Vt": -50 * mV, "Vr": -60 * mV, "El": -49 * mV,
        }
        eqs = """
        dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
        dge/dt = -ge/taue : volt
        dgi/dt = -gi/taui : volt
        """
        group = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr",
                               refractory=5 * ms, method="exact", namespace=ns)
        group.v = "Vr + rand() * (Vt - Vr)"
        w_e, w_i = 60 * 0.27 / 10 * mV, -20 * 4.5 / 10 * mV
        on_e, on_i = "ge += w_e", "gi += w_i"
        extra = {"w_e": w_e, "w_i": w_i}
    else:
        ns = {
            "taue": 5 * ms, "taui": 10 * ms, "Vt": -50 * mV, "Vr": -60 * mV,
            "El": -60 * mV, "Ee": 0 * mV, "Ei": -80 * mV, "C": 200 * pF, "gl": 10 * nS,
        }
        eqs = """
        dv/dt = (gl*(El-v) + ge*(Ee-v) + gi*(Ei-v))/C : volt (unless refractory)
        dge/dt = -ge/taue : siemens
        dgi/dt = -gi/taui : siemens
        """
        group = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr",
                               refractory=5 * ms, method="euler", namespace=ns)
        group.v = "Vr + rand() * (Vt - Vr)"
        group.ge = "(randn() * 1.5 + 4) * 10.*nS"
        group.gi = "(randn() * 12 + 20) * 10.*nS"
        on_e, on_i = "ge += w_e", "gi += w_i"
        extra = {"w_e": 6 * nS, "w_i": 67 * nS}
    ce = b2.Synapses(group[:n_exc], group, on_pre=on_e, namespace=extra)
    ce.connect(p=p)
    ci = b2.Synapses(group[n_exc:], group, on_pre=on_i, namespace=extra)
    ci.connect(p=p)
    return group, [ce, ci], b2.SpikeMonitor(group)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("network", choices=["cuba", "coba"])
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--mode", choices=["standalone", "runtime"], default="standalone")
    ap.add_argument("--dir", help="standalone build directory (default: a temporary one)")
    args = ap.parse_args()

    import brian2 as b2

    t0 = time.perf_counter()
    tmp = None
    if args.mode == "standalone":
        tmp = args.dir or tempfile.mkdtemp(prefix="brian2_bench_")
        b2.set_device("cpp_standalone", directory=tmp, build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    else:
        b2.prefs.codegen.target = "cython"
    b2.defaultclock.dt = 0.1 * b2.ms
    b2.seed(args.seed)
    group, syns, mon = build(b2, args.network, args.n)
    net = b2.Network(group, *syns, mon)
    if args.mode == "standalone":
        net.run(args.t_ms * b2.ms)
        b2.get_device().build(directory=tmp, compile=True, run=False)
        # The binary alone: its wall time, and its peak memory by GNU time (a child forked from
        # this Python process would inherit Python's resident size as its high-water mark).
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "maxrss_kib %M", os.path.join(tmp, "main")],
            cwd=tmp, stderr=subprocess.PIPE, text=True,
        )
        binary_s = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"the standalone binary failed: {proc.stderr}")
        peak_kib = int(proc.stderr.strip().splitlines()[-1].split()[1])
        with open(os.path.join(tmp, "results", "last_run_info.txt")) as f:
            sim_s = float(f.read().split()[0])
        # What Brian2's own device.run does after the binary: its results become readable.
        b2.get_device().has_been_run = True
        construct_s = (start - t0) + (binary_s - sim_s)
    else:
        net.run(0 * b2.ms)  # code generation and compilation outside the timed loop
        construct_s = time.perf_counter() - t0
        t2 = time.perf_counter()
        net.run(args.t_ms * b2.ms)
        sim_s = time.perf_counter() - t2
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    spike_i = np.asarray(mon.i[:])
    spikes = len(spike_i)
    # Synaptic events: Σ over spikes of the spiking neuron's out-degree.
    n_exc = args.n * 4 // 5
    degree = np.bincount(np.asarray(syns[0].i[:]), minlength=args.n) + np.bincount(
        np.asarray(syns[1].i[:]) + n_exc, minlength=args.n
    )
    syn_events = int(degree[spike_i].sum())
    n_syn = int(degree.sum())
    record = {
        "network": args.network,
        "n": args.n,
        "threads": 1,
        "dt_ms": 0.1,
        "t_sim_ms": args.t_ms,
        "construct_s": construct_s,
        "sim_s": sim_s,
        "spikes": spikes,
        "rate_hz": spikes / args.n / (args.t_ms / 1000.0),
        "syn_events": syn_events,
        "events_per_s": syn_events / max(sim_s, 1e-12),
        "synapses": n_syn,
        "peak_rss_mib": peak_kib / 1024.0,
        "seed": args.seed,
        "simulator": f"brian2 {b2.__version__} {args.mode}",
    }
    print(json.dumps(record))
    if tmp is not None and args.dir is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
