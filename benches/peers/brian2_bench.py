"""The benchmark networks in Brian2, as `somnet bench` builds them, printing the same JSON line.

    python benches/peers/brian2_bench.py cuba|coba|coba-euler|izhikevich|polychronization --n N
        [--seed S] [--t-ms T] [--mode standalone|runtime] [--coba-method euler|exponential_euler]
        [--threads K] [--dir DIR]

The networks are those of ../../shared/specs/benchmarks.md: CUBA and COBA (Brette et al. 2007,
benchmarks 2 and 1; CUBA integrated exactly, COBA by forward Euler, dt 0.1 ms), Izhikevich's 2003
network and his 2006 polychronization network (dt 1 ms, v in two half steps then u, written as the
group's per-step code). A somnet delay of d steps is Brian2's delay (d − 1)·dt: Brian2's synapses
act on the next step. The polychronization network's STDP is the paper's (nearest traces of 0.1
decaying with 20 ms, depression 1.2 × the post trace at a pre arrival, potentiation by the pre
trace at a post spike, both into sd; every second w ← clip(w + 0.01 + sd, 0, 10), sd ← 0.9 sd);
its random wiring and input come from NumPy, so rates agree with somnet's statistically, not
spike for spike. Every spike is recorded. `coba-euler` is `coba` under the name of somnet's
forward-Euler COBA (both are forward Euler here, as the benchmark script has it); `--coba-method
exponential_euler` integrates COBA as somnet's `coba` does, for a like-for-like timing of that scheme.

Modes: `standalone` generates C++, compiles it and runs the binary as a child of this script (the
binary's own peak memory is reported; `construct_s` is code generation and compilation plus the
binary's set-up, `sim_s` the run loop Brian2 reports); `runtime` runs Brian2's Cython runtime in
this process (`construct_s` includes Cython compilation on a cold cache). `--threads K` (standalone
only) runs the generated code on K OpenMP threads (Brian2's `openmp_threads`); 1, the default,
builds it without OpenMP. With OpenMP the random streams differ, so the rates do too
(statistically the same).

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


def build(b2, network, n, rng, method="euler"):
    """The network of `n` neurons: (objects, group, [(synapses, source offset)], dt in ms)."""
    if network in ("cuba", "coba", "coba-euler"):
        group, syns = build_brette(b2, network, n, method)
        return [group, *syns], group, [(syns[0], 0), (syns[1], n * 4 // 5)], 0.1
    if network == "izhikevich":
        return build_izhikevich(b2, n, rng)
    return build_polychronization(b2, n, rng)


def build_brette(b2, network, n, method):
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
                               refractory=5 * ms, method=method, namespace=ns)
        group.v = "Vr + rand() * (Vt - Vr)"
        group.ge = "(randn() * 1.5 + 4) * 10.*nS"
        group.gi = "(randn() * 12 + 20) * 10.*nS"
        on_e, on_i = "ge += w_e", "gi += w_i"
        extra = {"w_e": 6 * nS, "w_i": 67 * nS}
    ce = b2.Synapses(group[:n_exc], group, on_pre=on_e, namespace=extra)
    ce.connect(p=p)
    ci = b2.Synapses(group[n_exc:], group, on_pre=on_i, namespace=extra)
    ci.connect(p=p)
    return group, [ce, ci]


IZH_MODEL = """
v : 1
u : 1
I : 1
a : 1 (constant)
b : 1 (constant)
c : 1 (constant)
d : 1 (constant)
"""

# Izhikevich (2003): two half steps of v, then u, with the step's input current; the current is
# then cleared and refilled by this step's spikes for the next.
IZH_STEP = """
v = v + 0.5*(0.04*v**2 + 5*v + 140 - u + I)
v = v + 0.5*(0.04*v**2 + 5*v + 140 - u + I)
u = u + a*(b*v - u)
I = 0
"""


def build_izhikevich(b2, n, rng):
    """Izhikevich (2003), Fig. 3: thalamic noise 5·N(0,1) / 2·N(0,1) each ms, all-to-all up to
    1 000 neurons (fixed in-degree 800 + 200 above), weights 0.5·U(0,1) and −U(0,1)."""
    n_exc = n * 4 // 5
    g = b2.NeuronGroup(n, IZH_MODEL + "sigma : 1 (constant)", threshold="v >= 30",
                       reset="v = c; u = u + d")
    re, ri = rng.random(n_exc), rng.random(n - n_exc)
    g.a = np.concatenate([np.full(n_exc, 0.02), 0.02 + 0.08 * ri])
    g.b = np.concatenate([np.full(n_exc, 0.2), 0.25 - 0.05 * ri])
    g.c = np.concatenate([-65 + 15 * re**2, np.full(n - n_exc, -65.0)])
    g.d = np.concatenate([8 - 6 * re**2, np.full(n - n_exc, 2.0)])
    g.sigma = np.concatenate([np.full(n_exc, 5.0), np.full(n - n_exc, 2.0)])
    g.v = -65.0
    g.u = g.b[:] * -65.0
    g.run_regularly("I = I + sigma*randn()\n" + IZH_STEP, when="groups")
    syns = []
    for lo, hi, w in [(0, n_exc, "0.5*rand()"), (n_exc, n, "-rand()")]:
        s = b2.Synapses(g[lo:hi], g, "w : 1", on_pre="I_post += w")
        if n <= 1000:
            s.connect()
        else:
            k = 800 if lo == 0 else 200
            s.connect(i=rng.integers(0, hi - lo, size=n * k), j=np.repeat(np.arange(n), k))
        s.w = w
        syns.append((s, lo))
    return [g, *(s for s, _ in syns)], g, syns, 1.0


def build_polychronization(b2, n, rng):
    """Izhikevich (2006): see the module docs."""
    n_exc = n * 4 // 5
    steps = 10**6  # one random target per ms, for up to 1 000 s
    picks = b2.TimedArray(rng.integers(0, n, size=steps).astype(float), dt=b2.ms)
    g = b2.NeuronGroup(n, IZH_MODEL, threshold="v >= 30", reset="v = c; u = u + d",
                       namespace={"picks": picks})
    g.a = np.where(np.arange(n) < n_exc, 0.02, 0.1)
    g.b = 0.2
    g.c = -65.0
    g.d = np.where(np.arange(n) < n_exc, 8.0, 2.0)
    g.v = -65.0
    g.u = 0.2 * -65.0
    g.run_regularly("I = I + 20*int(i == int(picks(t)))\n" + IZH_STEP, when="groups")
    m, per_delay = 100, 5

    def targets(i, pool):
        out = []
        while len(out) < min(m, pool - (1 if i < pool else 0)):
            r = int(rng.integers(0, pool))
            if r != i and r not in out:
                out.append(r)
        return out

    pre, post, delay = [], [], []
    for i in range(n_exc):
        for k, j in enumerate(targets(i, n)):
            pre.append(i)
            post.append(j)
            delay.append(1 + k // per_delay)
    exc = b2.Synapses(g[:n_exc], g, """
        w : 1
        sd : 1
        dapre/dt = -apre/(20*ms) : 1 (event-driven)
        dapost/dt = -apost/(20*ms) : 1 (event-driven)
        """, on_pre="I_post += w\nsd = sd - 1.2*apost\napre = 0.1",
        on_post="sd = sd + apre\napost = 0.1", namespace={"ms": b2.ms})
    exc.connect(i=np.array(pre), j=np.array(post))
    exc.w = 6.0
    exc.delay = (np.array(delay) - 1) * b2.ms
    exc.run_regularly("w = clip(w + 0.01 + sd, 0, 10)\nsd = 0.9*sd", dt=1 * b2.second,
                      when="end")
    ipre, ipost = [], []
    for i in range(n_exc, n):
        for j in targets(i, n_exc):
            ipre.append(i - n_exc)
            ipost.append(j)
    inh = b2.Synapses(g[n_exc:], g[:n_exc], "w : 1", on_pre="I_post += w")
    inh.connect(i=np.array(ipre), j=np.array(ipost))
    inh.w = -5.0
    return [g, exc, inh], g, [(exc, 0), (inh, n_exc)], 1.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("network",
                    choices=["cuba", "coba", "coba-euler", "izhikevich", "polychronization"])
    ap.add_argument("--coba-method", choices=["euler", "exponential_euler"], default="euler",
                    help="COBA's state updater (the benchmark script's: euler)")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--mode", choices=["standalone", "runtime"], default="standalone")
    ap.add_argument("--threads", type=int, default=1,
                    help="OpenMP threads of the standalone binary (1: built without OpenMP)")
    ap.add_argument("--dir", help="standalone build directory (default: a temporary one)")
    args = ap.parse_args()
    if args.threads < 1 or (args.threads > 1 and args.mode != "standalone"):
        raise SystemExit("--threads: at least 1, and above 1 only in standalone mode")

    import brian2 as b2

    t0 = time.perf_counter()
    tmp = None
    if args.mode == "standalone":
        tmp = args.dir or tempfile.mkdtemp(prefix="brian2_bench_")
        b2.set_device("cpp_standalone", directory=tmp, build_on_run=False)
        # 0 builds without OpenMP; K > 1 runs every loop on K threads.
        b2.prefs.devices.cpp_standalone.openmp_threads = 0 if args.threads == 1 else args.threads
    else:
        b2.prefs.codegen.target = "cython"
    b2.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    objects, group, syns, dt_ms = build(b2, args.network, args.n, rng, args.coba_method)
    b2.defaultclock.dt = dt_ms * b2.ms
    mon = b2.SpikeMonitor(group)
    net = b2.Network(*objects, mon)
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
    degree = sum(np.bincount(np.asarray(s.i[:]) + lo, minlength=args.n) for s, lo in syns)
    syn_events = int(degree[spike_i].sum())
    n_syn = int(degree.sum())
    record = {
        "network": args.network,
        "n": args.n,
        "threads": args.threads,
        "dt_ms": dt_ms,
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
