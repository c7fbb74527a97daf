"""CUBA, COBA and Izhikevich's 2003 network in NEST, as `somnet bench` builds them, printing the
same JSON line.

    python benches/peers/nest_bench.py cuba|coba|izhikevich --n N [--seed S] [--t-ms T] [--threads K]

The networks of ../../shared/specs/benchmarks.md (Brette et al. 2007, benchmarks 1 and 2) with
NEST's own models: CUBA on `iaf_psc_exp` (exact integration, as somnet), COBA on `iaf_cond_exp`
(adaptive Runge–Kutta–Fehlberg 4(5) from GSL). Connections by `pairwise_bernoulli` with p = 80/N,
delay 0.1 ms (one step, as Brian2's default and somnet's delay 1), dt 0.1 ms, every spike recorded
by a `spike_recorder`. CUBA's weights are currents: somnet's voltage-equivalent jumps (mV) times
C/τ_m (pA); COBA's are conductances in nS. Izhikevich (2003) on NEST's `izhikevich` with
`consistent_integration` off (the published two half steps), dt 1 ms, thalamic noise from one
`noise_generator` per kind (independent per target, std 5 and 2, held 1 ms), all-to-all up to
1 000 neurons, else fixed in-degree 800 + 200, delay 1 ms; NEST adds a spike's weight to V_m
where somnet adds it to the step's current. The polychronization network has no peer here: NEST
has no synapse with its rule (STDP accumulated into a derivative applied once a second).

Requirements: benches/peers/requirements-nest.txt.
"""

import argparse
import json
import resource
import time

import numpy as np


def izhikevich(nest, n, n_exc, rng):
    """Izhikevich (2003), Fig. 3 (see the module docs)."""
    re, ri = rng.random(n_exc), rng.random(n - n_exc)
    a = np.concatenate([np.full(n_exc, 0.02), 0.02 + 0.08 * ri])
    b = np.concatenate([np.full(n_exc, 0.2), 0.25 - 0.05 * ri])
    c = np.concatenate([-65 + 15 * re**2, np.full(n - n_exc, -65.0)])
    d = np.concatenate([8 - 6 * re**2, np.full(n - n_exc, 2.0)])
    pop = nest.Create("izhikevich", n, params={"V_th": 30.0, "consistent_integration": False})
    pop.set({"a": list(a), "b": list(b), "c": list(c), "d": list(d),
             "V_m": [-65.0] * n, "U_m": list(b * -65.0)})
    for lo, hi, std in [(0, n_exc, 5.0), (n_exc, n, 2.0)]:
        noise = nest.Create("noise_generator", params={"mean": 0.0, "std": std, "dt": 1.0})
        nest.Connect(noise, pop[lo:hi])
    for lo, hi, w, k in [(0, n_exc, nest.random.uniform(0.0, 0.5), 800),
                         (n_exc, n, nest.random.uniform(-1.0, 0.0), 200)]:
        conn = "all_to_all" if n <= 1000 else {"rule": "fixed_indegree", "indegree": k}
        nest.Connect(pop[lo:hi], pop, conn, {"weight": w, "delay": 1.0})
    return pop


def main():
    ap = argparse.ArgumentParser()
    # coba-euler: somnet's forward-Euler COBA; NEST has only its own solver for iaf_cond_exp.
    ap.add_argument("network", choices=["cuba", "coba", "coba-euler", "izhikevich"])
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    t0 = time.perf_counter()
    import nest

    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    dt = 1.0 if args.network == "izhikevich" else 0.1
    nest.SetKernelStatus({
        "resolution": dt,
        "local_num_threads": args.threads,
        "rng_seed": args.seed,
    })
    n, n_exc = args.n, args.n * 4 // 5
    p = min(1.0, 80.0 / n)
    rng = np.random.default_rng(args.seed)
    if args.network == "izhikevich":
        pop = izhikevich(nest, n, n_exc, rng)
    elif args.network == "cuba":
        c_m, tau_m = 250.0, 20.0
        params = {
            "C_m": c_m, "tau_m": tau_m, "E_L": -49.0, "V_th": -50.0, "V_reset": -60.0,
            "t_ref": 5.0, "tau_syn_ex": 5.0, "tau_syn_in": 10.0, "I_e": 0.0,
        }
        pop = nest.Create("iaf_psc_exp", n, params=params)
        # A jump of x mV in somnet's voltage-equivalent current is x·C/τ_m pA here.
        w_exc, w_inh = 1.62 * c_m / tau_m, -9.0 * c_m / tau_m
    else:
        params = {
            "C_m": 200.0, "g_L": 10.0, "E_L": -60.0, "V_th": -50.0, "V_reset": -60.0,
            "t_ref": 5.0, "E_ex": 0.0, "E_in": -80.0, "tau_syn_ex": 5.0, "tau_syn_in": 10.0,
            "I_e": 0.0,
        }
        pop = nest.Create("iaf_cond_exp", n, params=params)
        pop.set({
            "g_ex": list((4.0 + 1.5 * rng.standard_normal(n)) * 10.0),
            "g_in": list((20.0 + 12.0 * rng.standard_normal(n)) * 10.0),
        })
        w_exc, w_inh = 6.0, -67.0  # NEST takes inhibitory conductance weights as negative
    if args.network != "izhikevich":
        pop.set({"V_m": list(-60.0 + 10.0 * rng.random(n))})
        conn = {"rule": "pairwise_bernoulli", "p": p, "allow_autapses": False}
        nest.Connect(pop[:n_exc], pop, conn, {"weight": w_exc, "delay": 0.1})
        nest.Connect(pop[n_exc:], pop, conn, {"weight": w_inh, "delay": 0.1})
    rec = nest.Create("spike_recorder")
    nest.Connect(pop, rec)
    nest.Prepare()
    construct_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    nest.Run(args.t_ms)
    sim_s = time.perf_counter() - t1
    nest.Cleanup()

    senders = np.asarray(rec.get("events")["senders"]) - pop[0].global_id
    spikes = len(senders)
    degree = np.bincount(
        np.asarray(nest.GetConnections(pop, pop).get("source")) - pop[0].global_id,
        minlength=n,
    )
    syn_events = int(degree[senders].sum())
    record = {
        "network": args.network,
        "n": n,
        "threads": args.threads,
        "dt_ms": dt,
        "t_sim_ms": args.t_ms,
        "construct_s": construct_s,
        "sim_s": sim_s,
        "spikes": spikes,
        "rate_hz": spikes / n / (args.t_ms / 1000.0),
        "syn_events": syn_events,
        "events_per_s": syn_events / max(sim_s, 1e-12),
        "synapses": int(degree.sum()),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "seed": args.seed,
        "simulator": f"nest {nest.__version__} {args.threads} threads",
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
