"""User-facing errors: one clear line, no traceback (see :func:`cnn_cookbook.cli.main_wrapper`)."""


class CookbookError(Exception):
    """A problem the user can fix; the message says what was wrong and what to do."""


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

    def __init__(self, message, exit_status=130):
        super().__init__(message)
        self.exit_status = exit_status
