"""CUBA and COBA in NEST, as `somnet bench` builds them, printing the same JSON line.

    python benches/peers/nest_bench.py cuba|coba --n N [--seed S] [--t-ms T] [--threads K]

The networks of ../../shared/specs/benchmarks.md (Brette et al. 2007, benchmarks 1 and 2) with
NEST's own models: CUBA on `iaf_psc_exp` (exact integration, as somnet), COBA on `iaf_cond_exp`
(adaptive Runge–Kutta–Fehlberg 4(5) from GSL). Connections by `pairwise_bernoulli` with p = 80/N,
delay 0.1 ms (one step, as Brian2's default and somnet's delay 1), dt 0.1 ms, every spike recorded
by a `spike_recorder`. CUBA's weights are currents: somnet's voltage-equivalent jumps (mV) times
C/τ_m (pA); COBA's are conductances in nS.

Requirements: benches/peers/requirements-nest.txt.
"""

import argparse
import json
import resource
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("network", choices=["cuba", "coba"])
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    t0 = time.perf_counter()
    import nest

    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.SetKernelStatus({
        "resolution": 0.1,
        "local_num_threads": args.threads,
        "rng_seed": args.seed,
    })
    n, n_exc = args.n, args.n * 4 // 5
    p = min(1.0, 80.0 / n)
    rng = np.random.default_rng(args.seed)
    if args.network == "cuba":
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
        "dt_ms": 0.1,
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
