"""Ctrl-C during a long call raises KeyboardInterrupt (somnet.Interrupted) within about a second
and keeps what finished, as the CLI does."""

import signal
import subprocess
import sys
import time

SCRIPT = r"""
import signal, sys, time
# Ctrl-C as an interactive user has it, whatever the disposition this process inherited (a shell
# that starts jobs in the background without job control passes SIGINT on as ignored).
signal.signal(signal.SIGINT, signal.default_int_handler)
import somnet
import numpy as np
images, labels = somnet.datasets.load("mnist", "test")
# Eight copies of the test set: 320 chunks of 250 images, far more work than the time the test
# waits before the signal on any machine.
images, labels = np.concatenate([images] * 8), np.concatenate([labels] * 8)
snn = somnet.load(sys.argv[1])
print("READY", flush=True)
started = []
def progress(done, total):
    if done > 0 and not started:
        started.append(done)
        print("STARTED", flush=True)
try:
    snn.evaluate(images, labels, steps=256, threads=2, progress=progress)
    print("FINISHED", flush=True)
except somnet.Interrupted as e:
    assert isinstance(e, KeyboardInterrupt)
    print("INTERRUPTED", e.partial.images, e.partial.interrupted, len(e.partial.snn_accuracy_per_step), flush=True)
"""


def run_and_interrupt(root):
    """Starts the evaluation, sends Ctrl-C once its first chunk has finished; returns the child's
    output words, the seconds it took to stop and the seconds to the first chunk."""
    p = subprocess.Popen([sys.executable, "-c", SCRIPT, str(root / "tests/golden/bncnn.snn.h5")],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "READY"
    ready = time.monotonic()
    # The signal goes once the first chunk has finished, so that the run has something to keep.
    assert p.stdout.readline().strip() == "STARTED"
    sent = time.monotonic()
    first_chunk = sent - ready  # the source ANN's accuracy and at least one chunk: this machine's pace
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=300)
    return out.split(), time.monotonic() - sent, first_chunk


def test_ctrl_c_stops_an_evaluation_and_keeps_the_finished_images(root):
    # Once on CI the child finished without seeing the signal (cause not found yet); up to three
    # attempts, and a call that ignores Ctrl-C fails all of them.
    for _ in range(3):
        words, waited, first_chunk = run_and_interrupt(root)
        if words[0] != "FINISHED":
            break
    assert words[0] == "INTERRUPTED", words
    images, interrupted, steps = int(words[1]), words[2], int(words[3])
    assert 0 < images < 80_000 and images % 250 == 0  # whole chunks of 250 images
    assert interrupted == "True" and steps == 256
    # Only the chunks already running finish (no new one starts after the signal), so the stop
    # takes about one chunk; a call that ignored Ctrl-C would run the other ~160 chunk-times.
    assert waited < 2 * first_chunk + 1, f"took {waited:.1f} s to stop ({first_chunk:.1f} s to the first chunk)"
