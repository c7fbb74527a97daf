"""Runs a SONATA circuit written by `somnet export-sonata` in NEST and reads the spikes back.

    python run_nest.py DIR [--threads N]            # NEST threads
    mpirun -n 4 python run_nest.py DIR              # NEST MPI processes (each rank writes its part)

Needs nest-simulator >= 3.5 (3.10 from PyPI: `pip install -r benches/peers/requirements-nest.txt`),
h5py and pandas. Builds the network with `nest.SonataNetwork` (where NEST lacks HDF5, as the PyPI
wheel does, the nodes still through it and the edges read here from the same files), sets every neuron's initial state
from DIR/network/initial_state.h5 (SONATA node types hold no per-neuron values), records every
population, simulates `run.tstop` and writes DIR/output/nest_spikes_<rank>.csv (population,
node_id, time_ms). Prints one JSON line: neurons, connections, spikes and rate per population,
seconds to build and to simulate. When DIR holds somnet_spikes.csv (`somnet export-sonata --run`),
it also compares: spikes and rate of each simulator per population and, for populations of at most
10 neurons, the spike times neuron by neuron (largest difference in ms).
"""

import argparse
import json
import time
from pathlib import Path

import h5py
import numpy as np


def read_csv(path):
    """(population, node_id, time_ms) rows of a spikes CSV."""
    rows = []
    with open(path) as f:
        next(f)
        for line in f:
            pop, node, t = line.strip().split(",")
            rows.append((pop, int(node), float(t)))
    return rows


def compare(ours, theirs, sizes, t_stop_ms):
    out = {}
    for pop, n in sizes.items():
        a = sorted((node, t) for p, node, t in ours if p == pop)
        b = sorted((node, t) for p, node, t in theirs if p == pop)
        entry = {
            "somnet_spikes": len(a),
            "nest_spikes": len(b),
            "somnet_rate_hz": len(a) / n / (t_stop_ms / 1000.0),
            "nest_rate_hz": len(b) / n / (t_stop_ms / 1000.0),
        }
        if n <= 10:
            worst = 0.0
            same_count = True
            for node in range(n):
                ta = [t for k, t in a if k == node]
                tb = [t for k, t in b if k == node]
                same_count &= len(ta) == len(tb)
                worst = max([worst] + [abs(x - y) for x, y in zip(ta, tb)])
            entry["same_spike_counts"] = same_count
            entry["max_time_difference_ms"] = worst
        out[pop] = entry
    return out


def connect_edges(nest, circuit_config, nodes):
    """Connects every edge population of the circuit as NEST's SONATA edge reader would: one
    synapse per edge, `syn_weight` and `delay` per edge from group 0, the model of its edge type."""
    base = circuit_config.parent
    conf = json.loads(circuit_config.read_text())
    paths = {k.lstrip("$"): v for k, v in conf["manifest"].items()}

    def resolve(p):
        for key in sorted(paths, key=len, reverse=True):
            p = p.replace("$" + key, paths[key])
        return base / p

    for entry in conf["networks"]["edges"]:
        with open(resolve(entry["edge_types_file"])) as f:
            header = f.readline().split()
            types = {}
            for line in f:
                row = dict(zip(header, line.split()))
                types[int(row["edge_type_id"])] = row["model_template"].replace("nest:", "")
        with h5py.File(resolve(entry["edges_file"]), "r") as f:
            for pop in f["edges"].values():
                src_pop = pop["source_node_id"].attrs["node_population"]
                dst_pop = pop["target_node_id"].attrs["node_population"]
                src_pop = src_pop.decode() if isinstance(src_pop, bytes) else src_pop
                dst_pop = dst_pop.decode() if isinstance(dst_pop, bytes) else dst_pop
                src = pop["source_node_id"][()] + nodes[src_pop][0].global_id
                dst = pop["target_node_id"][()] + nodes[dst_pop][0].global_id
                type_ids = pop["edge_type_id"][()]
                weight = pop["0"]["syn_weight"][()]
                delay = pop["0"]["delay"][()]
                for type_id in np.unique(type_ids):
                    k = type_ids == type_id
                    nest.Connect(src[k], dst[k], "one_to_one",
                                 {"synapse_model": types[int(type_id)], "weight": weight[k], "delay": delay[k]})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="the folder `somnet export-sonata` wrote")
    ap.add_argument("--threads", type=int, default=1, help="NEST threads per process")
    args = ap.parse_args()
    d = Path(args.dir).resolve()

    import nest

    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.SetKernelStatus({"local_num_threads": args.threads})
    start = time.perf_counter()
    native = nest.GetKernelStatus("build_info")["have_hdf5"]
    if not native:
        # The PyPI wheel of NEST is built without HDF5, which only its C++ edge reader needs:
        # the nodes still go through NEST's own SonataNetwork (its Python part reads node files
        # with h5py) and the edges are read here from the same SONATA files.
        import nest.lib.hl_api_sonata as sonata

        sonata.have_hdf5 = True
    net = nest.SonataNetwork(d / "circuit_config.json", sim_config=d / "simulation_config.json")
    if native:
        nodes = net.BuildNetwork()
    else:
        nodes = net.Create()
        connect_edges(nest, d / "circuit_config.json", nodes)
    with h5py.File(d / "network" / "initial_state.h5", "r") as f:
        for pop, coll in nodes.items():
            if pop in f["nodes"]:
                for var, ds in f["nodes"][pop].items():
                    coll.set({var: [float(v) for v in ds[()]]})
    connections = nest.GetKernelStatus("num_connections")
    recorders = {}
    for pop, coll in nodes.items():
        recorders[pop] = nest.Create("spike_recorder")
        nest.Connect(coll, recorders[pop])
    built = time.perf_counter()
    if native:
        net.Simulate()
    else:
        nest.Simulate(float(json.loads((d / "simulation_config.json").read_text())["run"]["tstop"]))
    done = time.perf_counter()

    rank = nest.Rank()
    rows = []
    for pop, rec in recorders.items():
        events = rec.get("events")
        first = nodes[pop][0].global_id
        for sender, t in zip(events["senders"], events["times"]):
            rows.append((pop, int(sender) - first, float(t)))
    rows.sort(key=lambda r: (r[2], r[0], r[1]))
    (d / "output").mkdir(exist_ok=True)
    with open(d / "output" / f"nest_spikes_{rank}.csv", "w") as f:
        f.write("population,node_id,time_ms\n")
        for pop, node, t in rows:
            f.write(f"{pop},{node},{t:.4f}\n")

    config = json.loads((d / "simulation_config.json").read_text())
    t_stop = float(config["run"]["tstop"])
    sizes = {pop: len(coll) for pop, coll in nodes.items()}
    summary = {
        "nest_version": nest.__version__,
        "processes": nest.NumProcesses(),
        "rank": rank,
        "threads": args.threads,
        "neurons": sum(sizes.values()),
        "connections": connections,
        "sonata_reader": "NEST's own" if native else "NEST's for nodes, run_nest.py's for edges",
        "spikes_this_rank": len(rows),
        "tstop_ms": t_stop,
        "dt_ms": float(config["run"]["dt"]),
        "build_s": built - start,
        "sim_s": done - built,
    }
    ours = d / "somnet_spikes.csv"
    if ours.exists() and nest.NumProcesses() == 1:
        summary["comparison"] = compare(read_csv(ours), rows, sizes, t_stop)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
