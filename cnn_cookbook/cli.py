"""Shared command-line plumbing for recipes/*.py (no TensorFlow at import).

Every recipe gets the same common flags and the same error handling: a :class:`CookbookError`
is printed as one ``error: ...`` line with exit status 2, never as a traceback.  The library's
errors name the setting at fault (``field``), not a flag; :func:`main_wrapper` adds the flag.

TensorFlow stays out of this module's imports on purpose: a recipe parses its flags first, and
``--log-device-placement`` must reach the environment before TensorFlow is imported.

The convention (docs/command-line.md): one spelling per idea, no prefix matching (so
``--output`` is never taken for ``--output-dir``), every flag with a help line that shows its
real default, and the source programs' own flags (tensorflow/models, retrain.py, neural-style) accepted
as hidden aliases through :func:`alias`.
"""

import argparse
import errno
import functools
import json
import math
import os
import sys
from pathlib import Path

from cnn_cookbook import cluster, fileio, plots, run_folder
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.io import downloads, images


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help lines that end with the flag's real default.

    Nothing is added when the default means "not given" (None), for on/off switches, or when the
    help text already names its default (many defaults depend on --model and are spelled out).
    """

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (not action.option_strings or default is None or default is argparse.SUPPRESS
                or isinstance(default, bool) or "default" in text.lower()):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})".lstrip()


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's convention: no abbreviations, :class:`HelpFormatter`, and a
    bad flag reported like every other user error (one ``error:`` line).  Sub-commands made with
    ``add_subparsers`` are ArgumentParsers too.

    Two flags every recipe gets without listing them: ``--max-pixels`` (the image size limit
    of :func:`cnn_cookbook.io.images.read_image`) and, wherever there is a ``--download`` flag,
    ``--accept-checksum-mismatch`` (:func:`cnn_cookbook.io.downloads.fetch`).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        options = {o for action in self._actions for o in action.option_strings}
        if "--max-pixels" not in options:
            self.add_argument("--max-pixels", type=integer(1, None), default=images.DEFAULT_MAX_PIXELS,
                              help="refuse images with more pixels than this before decoding them")
        if "--download" in options and "--accept-checksum-mismatch" not in options:
            self.add_argument("--accept-checksum-mismatch", action="store_true",
                              help="use an external file placed by hand even though its hash differs "
                                   "from the published one (recorded in metrics.json)")
        parsed, extra = super().parse_known_args(args, namespace)
        # recorded after super(): a sub-command parses inside it, and the whole (its flags too) lands here
        FLAGS.clear()
        FLAGS.update(flag_names(self))
        # one recipe run per parse: the settings and the record of accepted files start afresh
        images.MAX_PIXELS = getattr(parsed, "max_pixels", images.DEFAULT_MAX_PIXELS)
        downloads.accept_checksum_mismatch = bool(getattr(parsed, "accept_checksum_mismatch", False))
        del downloads.ACCEPTED_MISMATCHES[:]
        return parsed, extra


#: setting (argparse dest, e.g. "batch_size") -> the flag that sets it, of the last parse;
#: :func:`main_wrapper` adds the flag to an error whose ``field`` names that setting
FLAGS = {}


def flag_names(p):
    """{dest: flag} of ``p`` and its sub-commands, in the spelling help shows (not an alias)."""
    names = {}
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names.update(flag_names(sub))
        elif action.option_strings and action.help != argparse.SUPPRESS:
            long = [o for o in action.option_strings if o.startswith("--")]
            names.setdefault(action.dest, (long or action.option_strings)[0])
    return names


def error_line(exc):
    """A :class:`CookbookError` as the command line shows it: the library's message, then the
    flag(s) of the setting(s) its ``field`` names, where this recipe has them."""
    flags = [FLAGS[name] for name in getattr(exc, "fields", ()) if name in FLAGS]
    if not flags:
        return str(exc)
    return f"{exc} (set with {' and '.join(flags)})"


def parser(description, **kwargs):
    return ArgumentParser(description=description, **kwargs)


def find_action(p, flag):
    """The action of ``p`` that ``flag`` (e.g. ``--output-dir``) names."""
    for action in p._actions:
        if flag in action.option_strings:
            return action
    raise KeyError(f"{flag} is not a flag of {p.prog}")


def alias(p, flag, *names):
    """Accept each of ``names`` as another spelling of ``flag``, with the same type and choices.

    The aliases stay out of the option list (one spelling per idea); ``flag``'s help ends with
    "also: ...", and docs/command-line.md's alias table lists them.
    """
    action = find_action(p, flag)
    kinds = {argparse._StoreTrueAction: "store_true", argparse._StoreFalseAction: "store_false",
             argparse._AppendAction: "append", argparse._StoreAction: "store"}
    kind = kinds.get(type(action), type(action))
    kwargs = {}
    if kind in ("store", "append") or not isinstance(kind, str):
        kwargs.update(type=action.type, choices=action.choices, nargs=action.nargs, metavar=action.metavar)
    for name in names:
        p.add_argument(name, action=kind, dest=action.dest, default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS, **kwargs)
    action.help = f"{action.help or ''} (also: {', '.join(names)})".lstrip()
    return action


def aliases(p):
    """{alias: canonical flag} of every hidden alias of ``p`` (not of its sub-commands)."""
    shown = {a.dest: a.option_strings[0] for a in p._actions if a.option_strings and a.help != argparse.SUPPRESS}
    return {name: shown[a.dest] for a in p._actions if a.help == argparse.SUPPRESS and a.dest in shown
            for name in a.option_strings}


def spellings(**other_spellings):
    """An argparse ``type`` that maps other spellings of a choice to the canonical one.

    ``type=spellings(**{"inception-v3": "inception_v3"})`` with ``choices`` naming only the
    canonical values: help shows one spelling, the old one still parses.
    """
    def parse(text):
        return other_spellings.get(text, text)
    parse.__name__ = "choice"
    return parse


def add_run_args(p, output_dir, steps=None, show=True, progress=True):
    """--output-dir, --seed, --device, --show, --no-progress (and --steps when ``steps`` is given)."""
    p.add_argument("--output-dir", default=output_dir, help="where metrics.json, plots and checkpoints go")
    p.add_argument("--seed", type=integer(0, MAX_SEED), default=0,
                   help="random seed; a CPU run with a seed is repeatable")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="auto uses a visible GPU, else the CPU")
    if show:
        p.add_argument("--show", action="store_true",
                       help="also open the plots in windows (says so where there is no display)")
    if progress:
        add_progress_arg(p)
    if steps is not None:
        p.add_argument("--steps", type=integer(0), default=steps,
                       help="training steps (the book's 'generations')")
    return p


def add_progress_arg(p):
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (when stderr is not a terminal: no periodic progress lines)")
    return p


def add_summary_args(p, histograms=True):
    """--summaries-dir (and --histograms-every where a network trains): where TensorBoard events
    go, and how often weight and activation histograms are written."""
    p.add_argument("--summaries-dir", help="TensorBoard folder of this run's train/, eval/ ... event folders "
                                           "(default: <output-dir>/tensorboard)")
    if histograms:
        p.add_argument("--histograms-every", type=integer(0), default=0,
                       help="write weight and activation histograms every N steps (0: never; they cost time)")
    return p


def summaries_dir(args):
    """The TensorBoard folder of a run: --summaries-dir, else <output-dir>/tensorboard."""
    return Path(args.summaries_dir) if args.summaries_dir else Path(args.output_dir) / "tensorboard"


def add_tf1_aliases(p):
    """tensorflow/models' cifar10_train.py flags as aliases, and its --log_device_placement."""
    alias(p, "--output-dir", "--train_dir")
    alias(p, "--steps", "--max_steps")
    alias(p, "--batch-size", "--batch_size")
    alias(p, "--data-dir", "--data_dir")
    p.add_argument("--log-device-placement", action="store_true",
                   help="log which device runs each op (TensorFlow's own log, on stderr)")
    alias(p, "--log-device-placement", "--log_device_placement")
    return p


def add_classifier_run_args(p, export_help):
    """The flags the classifier recipes (MNIST, CIFAR-10) end with: the SavedModel export,
    TensorBoard, tensorflow/models' spellings and the cluster's ps/worker flags."""
    p.add_argument("--export-savedmodel", metavar="DIR", help=export_help)
    add_summary_args(p)
    add_tf1_aliases(p)
    cluster.add_cluster_args(p)
    return p


def apply_log_device_placement(args):
    """Turn on --log-device-placement for this process, before TensorFlow is imported: every
    Session's config then logs placement (:func:`cnn_cookbook.tf1.session_config`) and
    TensorFlow's own log is let through to stderr."""
    if getattr(args, "log_device_placement", False):
        os.environ["CNN_COOKBOOK_LOG_DEVICE_PLACEMENT"] = "1"
        os.environ["CNN_COOKBOOK_TF_LOGS"] = "1"
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"


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


def os_error_line(exc):
    """One line for an OSError: the path, what went wrong, what to do."""
    where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
    advice = {errno.ENOSPC: "free disk space", errno.EDQUOT: "free disk space",
              errno.EACCES: "fix its permissions", errno.EPERM: "fix its permissions",
              errno.EROFS: "choose a writable folder"}.get(exc.errno, "check the path")
    return f"cannot use{where}: {exc.strerror or exc}; {advice} and run again (files already written are kept)"


def main_wrapper(main):
    """Decorate a recipe's ``main(argv=None)``: one-line errors, exit codes 2 (user error) / 130."""
    @functools.wraps(main)
    def wrapped(argv=None):
        try:
            return main(argv)
        except CookbookError as exc:
            print(f"error: {error_line(exc)}", file=sys.stderr)
            sys.exit(getattr(exc, "exit_status", 2))  # Interrupted: 128 + the signal
        except OSError as exc:  # a full disk, a permission or an unreadable file met anywhere
            print(f"error: {os_error_line(exc)}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted; checkpoints written so far are kept", file=sys.stderr)
            sys.exit(130)
    return wrapped


def start_training(args, train, report, cluster_flags=False):
    """Run a training recipe: ``run = train(args, output_dir, task)``, then ``report(args, output_dir, run)``.

    First ``--log-device-placement`` is applied (before ``train`` imports TensorFlow).  With
    ``cluster_flags`` (the recipe has :func:`cnn_cookbook.cluster.add_cluster_args`), ``task`` is
    this process's :class:`cnn_cookbook.cluster.ClusterConfig`, else None (one process).
    A parameter server only serves.  A non-chief worker trains without claiming ``--output-dir``
    and says how far it got: the chief alone owns the folder, writes into it and reports.  The
    chief, or the single process, holds the folder's claim (:func:`cnn_cookbook.run_folder.claim`)
    until its outputs are written.
    """
    apply_log_device_placement(args)
    task = cluster.cluster_from_args(args) if cluster_flags else None
    if task is not None and task.job_name == "ps":
        return cluster.serve_ps(task)
    output_dir = fileio.ensure_dir(args.output_dir, field="output_dir")
    if task is not None and not task.is_chief:
        m = train(args, output_dir, task).metrics
        print(f"{task.task}: done at step {m['steps']} ({m['updates_by_this_worker']} updates of its own)")
        return
    with run_folder.claim(output_dir) as claimed:
        report(args, claimed, train(args, claimed, task))


def save_classifier_run(run, output_dir, export_dir=None, device="auto", show=False):
    """What a classifier recipe does once its run is over; returns the metrics to report.

    With ``export_dir``, the trained checkpoint is also exported as a SavedModel there. Then
    metrics, history and plots are written; a ``--resume`` with nothing left to train writes
    nothing and returns the finished run's stored metrics instead (see :func:`finished_run`).
    """
    if export_dir:
        from cnn_cookbook.serving import export_checkpoint  # TensorFlow: see the module docstring

        run.metrics["savedmodel"] = str(export_checkpoint(run.paths["checkpoints"], export_dir, device))
        print(f"SavedModel (serving_default: images -> probabilities, classes) in {run.metrics['savedmodel']}")
    stored = finished_run(output_dir, run.metrics)
    if stored is not None:
        print(f"nothing left to train: the run in {output_dir} finished at step {stored['steps']}; "
              "its outputs are unchanged")
        return stored
    write_outputs(output_dir, run.metrics, run.history, run.figures, show=show)
    return run.metrics


def finished_run(output_dir, metrics):
    """The stored metrics of ``output_dir``'s finished run when this invocation trained no step
    (a ``--resume`` with nothing left) and the stored run ended where this one did; else None.

    A recipe then reports the stored run again instead of rewriting its outputs."""
    if metrics.get("steps_this_run") != 0:
        return None
    try:
        stored = json.loads((Path(output_dir) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return stored if stored.get("steps") == metrics.get("steps") else None


def write_outputs(output_dir, metrics, history=None, figures=None, show=False):
    """What every training recipe leaves behind: PNG plots, metrics.json and history.json."""
    if figures:
        plots.finish(figures, output_dir, show=show)
    if downloads.ACCEPTED_MISMATCHES:  # files used although their hash differs (--accept-checksum-mismatch)
        metrics = dict(metrics, checksum_mismatch_accepted=list(downloads.ACCEPTED_MISMATCHES))
    if history is not None:
        fileio.write_json(f"{output_dir}/history.json", history.to_dict() if hasattr(history, "to_dict") else history)
    return fileio.write_json(f"{output_dir}/metrics.json", metrics)
