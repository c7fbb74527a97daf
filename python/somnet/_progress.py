"""Progress for long calls: `progress=True` shows a bar (tqdm when installed, else one line on
stderr); a callable receives (done, total)."""

import sys


class _Line:
    def __init__(self, what):
        self.what = what

    def __call__(self, done, total):
        end = "\n" if total and done >= total else ""
        sys.stderr.write(f"\r{self.what}: {done}/{total}{end}")
        sys.stderr.flush()


class _Tqdm:
    def __init__(self, tqdm, what):
        self.tqdm, self.what, self.bar = tqdm, what, None

    def __call__(self, done, total):
        if self.bar is None:
            self.bar = self.tqdm(total=total, desc=self.what, unit="")
        self.bar.update(done - self.bar.n)
        if total and done >= total:
            self.bar.close()


def callback(progress, what):
    """The callback for a `progress` argument: None, True/False or a callable(done, total)."""
    if progress is None or progress is False:
        return None
    if callable(progress):
        return progress
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Line(what)
    return _Tqdm(tqdm, what)
