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
