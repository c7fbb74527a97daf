"""somnet: event-driven spiking neural networks, from Python.

Convert a trained network to a spiking one and measure its accuracy after every time step, its
synaptic operations and its energy::

    import somnet
    images, labels = somnet.datasets.load("mnist", "test", limit=1000)
    train, _ = somnet.datasets.load("mnist", "train", limit=6000)
    model = somnet.load("lenet.h5")                  # or somnet.from_torch(net, (1, 28, 28))
    snn = somnet.convert(model, train[::10], percentile=99.9)
    result = snn.evaluate(images, labels, steps=64)
    result.snn_accuracy_per_step                     # NumPy array, one value per step

Or build a network of your own::

    net = somnet.Network(dt_ms=0.1, seed=1)
    inputs = net.add_poisson("inputs", 100, rate_hz=20.0)
    lif = net.add_population("lif", 10, somnet.LIF(tau_mem_ms=20.0), ports=[somnet.Exponential(5.0)])
    net.connect(inputs, lif, p=0.5, weight=2.0, delay_ms=1.0)
    spikes = net.monitor_spikes(lif)
    net.run(1000.0)
    times_ms, neurons = spikes.spikes()

Every call runs in the Rust library (the same code as the ``somnet`` command), without the GIL
and on all cores; Ctrl-C stops it within about a second and raises :class:`Interrupted` with the
finished part. Errors are :class:`SomnetError` (a ``ValueError``) or :class:`SomnetFileError`
(also an ``OSError``), with the library's message naming the file, layer or field.
"""

from . import datasets, distributed
from ._errors import Interrupted, SomnetError, SomnetFileError
from ._models import Converted, Model, convert, from_keras, from_torch, load, merge
from ._records import ConversionRecord, Evaluation, Record, Shard, Sweep
from ._simulate import simulate_nir
from ._studies import incremental, sleep, sweep
from ._somnet import (
    IF,
    LIF,
    Conductance,
    Delta,
    Exponential,
    Izhikevich,
    Network,
    Neurons,
    Normal,
    Population,
    STDP,
    RateMonitor,
    RewardSTDP,
    SpikeMonitor,
    StateMonitor,
    TripletSTDP,
    Uniform,
    __version__,
    simd_level,
)

__all__ = [
    "IF",
    "LIF",
    "Conductance",
    "Delta",
    "Exponential",
    "Izhikevich",
    "Network",
    "Neurons",
    "Normal",
    "Population",
    "RateMonitor",
    "RewardSTDP",
    "STDP",
    "SpikeMonitor",
    "StateMonitor",
    "TripletSTDP",
    "Uniform",
    "Converted",
    "ConversionRecord",
    "Evaluation",
    "Interrupted",
    "Model",
    "Record",
    "SomnetError",
    "SomnetFileError",
    "convert",
    "simulate_nir",
    "datasets",
    "distributed",
    "incremental",
    "merge",
    "sleep",
    "sweep",
    "Sweep",
    "Shard",
    "from_keras",
    "from_torch",
    "load",
    "simd_level",
    "__version__",
]
