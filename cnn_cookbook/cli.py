"""Shared command-line plumbing for recipes/*.py (no TensorFlow at import).

Every recipe gets the same common flags and the same error handling: a :class:`CookbookError`
is printed as one ``error: ...`` line with exit status 2, never as a traceback.
"""

import argparse
import functools
import sys

from cnn_cookbook.errors import CookbookError


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def parser(description, **kwargs):
    return argparse.ArgumentParser(description=description, formatter_class=HelpFormatter, **kwargs)


def add_run_args(p, output_dir, steps=None):
    """--output-dir, --seed, --device, --show (and --steps when ``steps`` is given)."""
    p.add_argument("--output-dir", default=output_dir, help="where metrics.json, plots and checkpoints go")
    p.add_argument("--seed", type=int, default=0, help="random seed; a CPU run with a seed is repeatable")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="auto uses a visible GPU, else the CPU")
    p.add_argument("--show", action="store_true", help="also open the plots in windows")
    if steps is not None:
        p.add_argument("--steps", type=int, default=steps,
                       help="training steps (the book's 'generations')")
    return p


def add_data_args(p, datasets, data_dir):
    """--dataset (first choice is the default), --data-dir, --download."""
    p.add_argument("--dataset", choices=datasets, default=datasets[0],
                   help="auto: the real data if present or downloadable, else the embedded synthetic set")
    p.add_argument("--data-dir", default=data_dir, help="folder holding (or receiving) the data files")
    p.add_argument("--download", action="store_true",
                   help="download missing external files (data sets, pretrained models)")
    return p


def add_training_args(p, checkpoint_every=100):
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output-dir")
    p.add_argument("--checkpoint-every", type=int, default=checkpoint_every,
                   help="save a checkpoint every N steps (and always at the end)")
    return p


def positive(kind=int):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


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
    if history is not None:
        write_json(f"{output_dir}/history.json", history.to_dict() if hasattr(history, "to_dict") else history)
    return write_json(f"{output_dir}/metrics.json", metrics)
