"""User-facing errors: one clear line, no traceback (see :func:`cnn_cookbook.cli.main_wrapper`)."""


class CookbookError(Exception):
    """A problem the user can fix; the message says what was wrong and what to do.

    The message speaks the library's language (a batch size, an output folder), never a
    command-line flag, since a notebook has none.  ``field`` names the setting at fault (the
    keyword argument, e.g. ``"batch_size"``, or a tuple of them); the command line adds the
    flag that sets it (:func:`cnn_cookbook.cli.main_wrapper`).
    """

    def __init__(self, message, *, field=None):
        super().__init__(message)
        self.field = field

    @property
    def fields(self):
        """``field`` as a tuple (empty when the error names no setting)."""
        if self.field is None:
            return ()
        return (self.field,) if isinstance(self.field, str) else tuple(self.field)


class MissingFileError(CookbookError):
    """An external file (data set, pretrained model) is absent and was not downloaded."""


class DataFormatError(CookbookError):
    """A file exists but is not in the format it should be (truncated, wrong magic, ...)."""


class ChecksumError(CookbookError):
    """A downloaded file's hash differs from the published one."""


class TrainingDiverged(CookbookError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


class Interrupted(CookbookError):
    """SIGINT or SIGTERM stopped a run after a step; a checkpoint was saved (exit 128 + signal)."""

    def __init__(self, message, exit_status=130, *, field=None):
        super().__init__(message, field=field)
        self.exit_status = exit_status


def first_line(exc, limit=None, default=""):
    """The first non-blank line of an exception's text (TensorFlow's ``message`` where it has one),
    cut to ``limit`` characters: what a one-line error quotes of a library's own error."""
    lines = [line.strip() for line in str(getattr(exc, "message", "") or exc).splitlines() if line.strip()]
    return (lines[0][:limit] if limit else lines[0]) if lines else default
