"""Shared command-line plumbing for recipes/*.py (no TensorFlow at import).

Every recipe gets the same common flags and the same error handling: a :class:`CookbookError`
is printed as one ``error: ...`` line with exit status 2, never as a traceback.
"""

import argparse
import functools
import math
import sys

from cnn_cookbook.errors import CookbookError


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a bad flag reported like every other user error (one ``error:`` line).

    Two flags every recipe gets without listing them: ``--max-pixels`` (the image size limit
    of :func:`cnn_cookbook.fileio.read_image`) and, wherever there is a ``--download`` flag,
    ``--accept-checksum-mismatch`` (:func:`cnn_cookbook.datasets.download.fetch`).
    """

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        from cnn_cookbook import fileio
        from cnn_cookbook.datasets import download

        options = {o for action in self._actions for o in action.option_strings}
        if "--max-pixels" not in options:
            self.add_argument("--max-pixels", type=integer(1, None), default=fileio.DEFAULT_MAX_PIXELS,
                              help="refuse images with more pixels than this before decoding them")
        if "--download" in options and "--accept-checksum-mismatch" not in options:
            self.add_argument("--accept-checksum-mismatch", action="store_true",
                              help="use an external file placed by hand even though its hash differs "
                                   "from the published one (recorded in metrics.json)")
        parsed, extra = super().parse_known_args(args, namespace)
        # one recipe run per parse: the settings and the record of accepted files start afresh
        fileio.MAX_PIXELS = getattr(parsed, "max_pixels", fileio.DEFAULT_MAX_PIXELS)
        download.accept_checksum_mismatch = bool(getattr(parsed, "accept_checksum_mismatch", False))
        del download.ACCEPTED_MISMATCHES[:]
        return parsed, extra


def parser(description, **kwargs):
    return ArgumentParser(description=description, formatter_class=HelpFormatter, **kwargs)


def add_run_args(p, output_dir, steps=None):
    """--output-dir, --seed, --device, --show (and --steps when ``steps`` is given)."""
    p.add_argument("--output-dir", default=output_dir, help="where metrics.json, plots and checkpoints go")
    p.add_argument("--seed", type=integer(0, MAX_SEED), default=0,
                   help="random seed; a CPU run with a seed is repeatable")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="auto uses a visible GPU, else the CPU")
    p.add_argument("--show", action="store_true", help="also open the plots in windows")
    if steps is not None:
        p.add_argument("--steps", type=integer(0), default=steps,
                       help="training steps (the book's 'generations')")
    return p


def add_data_args(p, datasets, data_dir):
    """--dataset (first choice is the default), --data-dir, --download; recipes on MNIST-format
    data (those offering ``idx``) also get --validation-size."""
    p.add_argument("--dataset", choices=datasets, default=datasets[0],
                   help="auto: the real data if present or downloadable, else the embedded synthetic set")
    p.add_argument("--data-dir", default=data_dir, help="folder holding (or receiving) the data files")
    p.add_argument("--download", action="store_true",
                   help="download missing external files (data sets, pretrained models)")
    if "idx" in datasets:
        p.add_argument("--validation-size", type=integer(0),
                       help="last training images held out for validation (default: 5000, as TF1, "
                            "when the training file has 10000 or more images, else a tenth of it)")
    return p


def add_training_args(p, checkpoint_every=100):
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output-dir")
    p.add_argument("--checkpoint-every", type=positive(), default=checkpoint_every,
                   help="save a checkpoint every N steps (and always at the end)")
    return p


# ---------------------------------------------------------------------------------------------
# Numeric flag validators: every recipe's numbers go through these, so a bad value is refused
# while the flags are parsed, before any data is read or anything is written.

#: the largest seed: NumPy's legacy global RNG takes 32-bit seeds
MAX_SEED = 2 ** 32 - 1
#: bound for counts (steps, batch sizes, ...): TensorFlow keeps many of them in int32
MAX_COUNT = 2 ** 31 - 1


def integer(minimum=None, maximum=MAX_COUNT, also=()):
    """An argparse ``type``: a whole number in [minimum, maximum] (either bound may be None), or
    one of the special values ``also`` (such as -1 for "all")."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value in also:
            return value
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            special = "".join(f" or {v}" for v in also)
            raise argparse.ArgumentTypeError(f"must be {_range_text(minimum, maximum)}{special}, got {text}")
        return value
    parse.__name__ = "integer"  # argparse names the type in its message
    return parse


def real(minimum=None, maximum=None, above=None, below=None):
    """An argparse ``type``: a finite float, >= minimum / <= maximum / > above / < below.

    NaN and infinities are always refused: no hyperparameter of these recipes means anything
    with them, and Python's ``float()`` accepts "nan" and "inf" silently.
    """
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        wrong = (minimum is not None and value < minimum or maximum is not None and value > maximum
                 or above is not None and value <= above or below is not None and value >= below)
        if wrong:
            bounds = [f">= {minimum}" if minimum is not None else None, f"> {above}" if above is not None else None,
                      f"<= {maximum}" if maximum is not None else None, f"< {below}" if below is not None else None]
            raise argparse.ArgumentTypeError(f"must be {' and '.join(b for b in bounds if b)}, got {text}")
        return value
    parse.__name__ = "number"
    return parse


def _range_text(minimum, maximum):
    if minimum is not None and maximum is not None:
        return f"between {minimum} and {maximum}"
    return f">= {minimum}" if minimum is not None else f"<= {maximum}"


def positive(kind=int):
    """A count >= 1 (``kind`` int) or a finite float > 0 (``kind`` float)."""
    return integer(1) if kind is int else real(above=0)


def check_batch_size(batch_size, examples, what, flag="--batch-size"):
    """Refuse a batch larger than the data it is drawn from (it would only repeat images, and a
    huge one runs out of memory); ``what`` names the data, e.g. ``"the training split of X"``."""
    if examples <= 0:
        raise CookbookError(f"{what} is empty; it needs at least one example")
    if batch_size > examples:
        raise CookbookError(f"{flag} {batch_size} is larger than {what} ({examples} examples); "
                            f"give {flag} {examples} or less")
    return batch_size


def main_wrapper(main):
    """Decorate a recipe's ``main(argv=None)``: one-line errors, exit codes 2 (user error) / 130."""
    @functools.wraps(main)
    def wrapped(argv=None):
        try:
            return main(argv)
        except CookbookError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted; checkpoints written so far are kept", file=sys.stderr)
            sys.exit(130)
    return wrapped


def write_outputs(output_dir, metrics, history=None, figures=None, show=False):
    """What every training recipe leaves behind: PNG plots, metrics.json and history.json."""
    from cnn_cookbook.fileio import write_json
    from cnn_cookbook.plots import finish

    if figures:
        finish(figures, output_dir, show=show)
    from cnn_cookbook.datasets import download

    if download.ACCEPTED_MISMATCHES:  # files used although their hash differs (--accept-checksum-mismatch)
        metrics = dict(metrics, checksum_mismatch_accepted=list(download.ACCEPTED_MISMATCHES))
    if history is not None:
        write_json(f"{output_dir}/history.json", history.to_dict() if hasattr(history, "to_dict") else history)
    return write_json(f"{output_dir}/metrics.json", metrics)
