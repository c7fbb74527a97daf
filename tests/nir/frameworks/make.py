"""Makes the framework fixtures of somnet's NIR tests.

For each framework: a small seeded network built in that framework, exported with the framework's
own NIR exporter, and run by the framework itself on a seeded binary input. Stored per framework:
`<name>.nir` (the export), `<name>_input.npy` (B, T, *input_shape, float32) and
`<name>_output.npy` (B, T, *output_shape, float32: the framework's output spikes).

    python -m venv env && env/bin/pip install -r requirements.txt && env/bin/python make.py

Sinabs: a convolutional IF network (conv, sum pooling, flatten, linear) with one spike per step
at most (SingleSpike) and reset by subtraction, the spike test v >= θ — what somnet's `sinabs`
preset runs exactly. snnTorch: a two-layer LIF network (Leaky, reset to zero applied in the step
of the spike, as snnTorch's NIR importer builds it), spike test v > θ. Norse: a two-layer LIF
network (LIFBoxCell, forward Euler with dt = 1 ms, reset to v_reset, spike test v > θ).
And the other way: somnet's NIR export of its golden LeNet (`somnet_lenet.nir`) run by Sinabs
(`sinabs_from_somnet_*.npy`).
"""

import pathlib

import nir
import numpy as np
import torch

HERE = pathlib.Path(__file__).parent
B, T = 4, 40


def seeded_input(shape, p, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand((B, T, *shape), generator=g) < p).float()


def save(name, graph, x, y):
    for k, node in graph.nodes.items():
        for field, value in node.to_dict().items():
            if value is None:
                raise SystemExit(f"{name}: node {k} field {field} is None")
    nir.write(HERE / f"{name}.nir", graph)
    np.save(HERE / f"{name}_input.npy", x.numpy().astype(np.float32))
    np.save(HERE / f"{name}_output.npy", y.detach().numpy().astype(np.float32))
    print(name, "input", tuple(x.shape), "output", tuple(y.shape), "spikes", int(y.sum()))


def fill_shapes(graph, shapes):
    """sinabs 2.0.3 leaves Conv2d.input_shape and Flatten.input_type unset, which nir 1.0.8
    cannot write: fill in what each node sees."""
    for name, node in graph.nodes.items():
        if isinstance(node, nir.Conv2d) and node.input_shape is None:
            node.input_shape = np.array(shapes[name])
        if isinstance(node, nir.Flatten) and node.input_type["input"] is None:
            node.input_type = {"input": np.array(shapes[name])}


def sinabs_cnn():
    import sinabs.activation as sa
    import sinabs.layers as sl

    torch.manual_seed(1)
    iaf = lambda: sl.IAFSqueeze(batch_size=B, spike_fn=sa.SingleSpike, min_v_mem=None)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 6, 3, stride=2, padding=1, bias=True),
        iaf(),
        sl.SumPool2d(2),
        torch.nn.Conv2d(6, 8, 3, padding=1, bias=False),
        iaf(),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 10),
        iaf(),
    )
    with torch.no_grad():
        for m in net:
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.mul_(3.0)
    x = seeded_input((2, 16, 16), 0.3, 2)
    with torch.no_grad():
        y = net(x.reshape(B * T, 2, 16, 16)).reshape(B, T, 10)
    for m in net:
        if hasattr(m, "reset_states"):
            m.reset_states()
    graph = sinabs.to_nir(net, x.reshape(B * T, 2, 16, 16)[:B])
    fill_shapes(graph, {"0": (16, 16), "3": (4, 4), "5": (8, 4, 4)})
    save("sinabs_cnn", graph, x, y)


def snntorch_lif():
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(3)
    # Parameters as arrays of the layer's shape: scalars export as 0-d arrays that nir's type
    # inference refuses.
    lif1 = snn.Leaky(
        beta=torch.full((16,), 0.9),
        threshold=torch.ones(16),
        init_hidden=True,
        reset_mechanism="zero",
        reset_delay=False,
    )
    lif2 = snn.Leaky(
        beta=torch.full((4,), 0.8),
        threshold=torch.ones(4),
        init_hidden=True,
        output=True,
        reset_mechanism="zero",
        reset_delay=False,
    )
    net = torch.nn.Sequential(torch.nn.Linear(20, 16), lif1, torch.nn.Linear(16, 4), lif2)
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(6.0)
    x = seeded_input((20,), 0.3, 4)
    outs = []
    with torch.no_grad():
        for b in range(B):
            lif1.reset_hidden()
            lif2.reset_hidden()
            steps = []
            for t in range(T):
                spk, _ = net(x[b, t][None])
                steps.append(spk[0])
            outs.append(torch.stack(steps))
    y = torch.stack(outs)
    lif1.reset_hidden()
    lif2.reset_hidden()
    graph = export_to_nir(net, x[0, :1], ignore_dims=[0])
    save("snntorch_lif", graph, x, y)


def norse_lif():
    import norse.torch as norse

    torch.manual_seed(5)
    def params(n, tau_inv):
        return norse.LIFBoxParameters(
            tau_mem_inv=torch.full((n,), tau_inv),
            v_th=torch.ones(n),
            v_leak=torch.zeros(n),
            v_reset=torch.zeros(n),
        )

    p1, p2 = params(16, 200.0), params(4, 100.0)
    fc1, fc2 = torch.nn.Linear(20, 16), torch.nn.Linear(16, 4)
    lif1, lif2 = norse.LIFBoxCell(p1), norse.LIFBoxCell(p2)
    with torch.no_grad():
        fc1.weight.mul_(40.0)
        fc2.weight.mul_(60.0)
    x = seeded_input((20,), 0.3, 6)
    outs = []
    with torch.no_grad():
        for b in range(B):
            s1 = s2 = None
            steps = []
            for t in range(T):
                z1, s1 = lif1(fc1(x[b, t][None]), s1)
                z2, s2 = lif2(fc2(z1), s2)
                steps.append(z2[0])
            outs.append(torch.stack(steps))
    y = torch.stack(outs)
    net = norse.SequentialState(fc1, lif1, fc2, lif2)
    graph = norse.to_nir(net, x[0, :1])
    save("norse_lif", graph, x, y)


def sinabs_reads_somnet():
    """somnet's own export of its golden LeNet (`somnet export-nir tests/golden/lenet.snn.h5
    tests/nir/frameworks/somnet_lenet.nir`), loaded by Sinabs' NIR importer and run by Sinabs on a
    seeded analog input: somnet's file goes to the hardware toolchain with the spikes somnet gives."""
    import sinabs

    graph = nir.read(HERE / "somnet_lenet.nir")
    net = sinabs.from_nir(graph, batch_size=B)
    g = torch.Generator().manual_seed(3)
    image = 2 * (torch.rand((B, 1, 28, 28), generator=g) < 0.3).float() * torch.rand((B, 1, 28, 28), generator=g)
    x = image[:, None].repeat(1, T, 1, 1, 1)
    with torch.no_grad():
        y = net(x.reshape(B * T, 1, 28, 28))
    y = (y[0] if isinstance(y, tuple) else y).reshape(B, T, -1)
    np.save(HERE / "sinabs_from_somnet_input.npy", x.numpy().astype(np.float32))
    np.save(HERE / "sinabs_from_somnet_output.npy", y.numpy().astype(np.float32))
    print("sinabs_from_somnet", "output", tuple(y.shape), "spikes", int(y.sum()))


if __name__ == "__main__":
    import sinabs  # noqa: F401  (imported here so that a missing framework fails early)

    sinabs_cnn()
    snntorch_lif()
    norse_lif()
    sinabs_reads_somnet()
