"""The exceptions somnet raises. Each message is the library's own: it names the file, the layer
or the field, what was expected and what was found."""


class SomnetError(ValueError):
    """A value somnet cannot use: a bad argument, option, network or data set."""


class SomnetFileError(SomnetError, OSError):
    """A file that is missing, unreadable or not what was expected (also an ``OSError``)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a long call. ``partial`` holds what finished (an evaluation covering the
    images done so far, the finished grid points of a sweep), as the command line keeps it."""

    def __init__(self, message, partial=None):
        super().__init__(message)
        self.partial = partial
