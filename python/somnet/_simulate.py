"""NIR graphs (from snnTorch, Sinabs, Norse, … or written by hand) run on the engine: one library
call (`simulate::Simulation`)."""

import numpy as np

from . import _arrays, _progress, _somnet
from ._records import Record
from ._studies import _finish


def simulate_nir(nir, input, *, from_=None, record=False, threads=0, progress=None, out=None, **options):
    """Runs the NIR graph in file ``nir`` (the ``nir.write`` layout) on ``input``: float32 of shape
    (T, *input_shape) or (B, T, *input_shape), spikes or currents per step. A NIR file knows no
    time step, reset rule or spike test: ``from_`` picks the exporting framework's discretisation
    (``nir`` — NIR's own: dt 1e-4, reset to v_reset, v > θ, exact integration — ``sinabs``,
    ``snntorch``, ``norse``, ``spikingjelly``, ``somnet``; by default the settings a file somnet
    wrote names in its metadata, else ``nir``) and keyword ``options`` override it: ``dt``,
    ``reset`` (``zero``, ``subtract``), ``threshold`` (``gt``, ``ge``), ``scheme`` (``exact``,
    ``euler``), ``integrator`` (``dt``, ``step``), ``tau_scale``, ``initial`` (membrane start as
    a fraction of θ).

    Returns ``(output, record)``: the output node's value per step, (B, T, *output_shape) (spikes
    as 1.0, or the membrane of a non-spiking output; B = 1 for a single sample), and the record
    (nodes, options, spikes per population, timing). ``out``: also write output.npy, result.json
    and, with ``record=True``, recording.h5 (every neuron node's spikes and membrane per step in
    NIR's data layout, ``nir.read_data``). Ctrl-C raises :class:`Interrupted` whose ``partial``
    holds the samples finished.

    >>> y, rec = somnet.simulate_nir("cnn.nir", x, from_="sinabs")  # doctest: +SKIP
    """
    a = np.ascontiguousarray(_arrays._numeric("input", input), dtype=np.float32)
    pairs = [(key, str(value)) for key, value in options.items()]
    callback = _progress.callback(progress, "samples")
    output, text, stopped = _somnet.simulate_nir(str(nir), a, None if from_ is None else str(from_), pairs, bool(record), int(threads),
                                                 callback, None if out is None else str(out))
    result = (output, Record.from_json(text))
    return _finish(result, stopped, f"{output.shape[0]} samples finished")
