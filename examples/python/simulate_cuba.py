#!/usr/bin/env python3
"""The CUBA network (Brette et al. 2007, benchmark 2) written with somnet.Network: prints the
mean rate and the spike digest, which equals `somnet bench cuba --n N --seed S --t-ms T`'s.

    python examples/python/simulate_cuba.py [--n 4000] [--seed 1] [--t-ms 1000]
"""

import argparse

import somnet

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--n", type=int, default=4000)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--t-ms", type=float, default=1000.0)
args = parser.parse_args()

net = somnet.Network(dt_ms=0.1, seed=args.seed, max_delay_ms=1.0)
lif = somnet.LIF(tau_mem_ms=20.0, v_rest_mv=-49.0, v_th_mv=-50.0, v_reset_mv=-60.0, t_ref_ms=5.0)
pop = net.add_population("cuba", args.n, lif, ports=[somnet.Exponential(5.0), somnet.Exponential(10.0)])
net.set_v_uniform(pop, -60.0, -50.0)
n_exc, p = args.n * 4 // 5, min(80.0 / args.n, 1.0)
net.connect(pop[:n_exc], pop, p=p, weight=1.62, delay_steps=1, port=0, name="exc")   # 60·0.27/10 mV
net.connect(pop[n_exc:], pop, p=p, weight=-9.0, delay_steps=1, port=1, name="inh")   # −20·4.5/10 mV
rate = net.monitor_rate(pop)
spikes = net.monitor_spikes(pop)
net.run(args.t_ms, progress=lambda done, total: None)

times_ms, neurons = spikes.spikes()
print(f"{args.n} neurons, {net.n_synapses} synapses: {len(times_ms)} spikes, "
      f"{rate.mean_rate_hz():.2f} Hz, digest {net.spike_digest()}")
