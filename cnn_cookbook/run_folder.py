"""One run per output folder (no TensorFlow): an exclusive lock for the run's life, and an
earlier run moved aside whole before a fresh one starts.

- :func:`claim` wraps a training run.  It holds ``fcntl.flock`` on ``<folder>/.run.lock``, so a
  second run into the same folder stops at once, naming the process that holds it; the OS drops
  the lock when that process ends, however it ends, so a killed run never blocks the next one
  (a killed run leaves the file behind; a run that ends removes it).
  Claims nest within one process (a recipe claims, then the library call it makes claims again).
- :func:`keep_earlier_run`, called by a fresh (not resumed) run just before it first writes, so
  that bad input stops it with the earlier run still in place: the run already in the folder
  moves, as a unit, to ``<folder>/previous-runs/<time>/`` (checkpoints, best, tensorboard, plots,
  metrics, history), and only the newest :data:`KEEP` kept runs stay.  Their ``checkpoint``
  state files point inside themselves, so every recipe that takes a checkpoint folder can load
  a kept run.  A summaries folder given apart from the run's folder keeps its earlier events
  apart too: its event folders (:data:`SUMMARY_RUNS`) move to ``<summaries>/previous-runs/<time>/``
  under the same name as the kept run, so TensorBoard shows each run once, and never two runs'
  steps on one curve.
"""

import contextlib
import fcntl
import functools
import inspect
import os
import re
import shutil
import sys
import time
from pathlib import Path

from cnn_cookbook.errors import CookbookError
from cnn_cookbook.fileio import ensure_dir

LOCK_FILE = ".run.lock"
PREVIOUS = "previous-runs"
KEEP = 3  # earlier runs kept in previous-runs/ (the oldest beyond this are deleted)
#: what a run writes at the top of its folder, and so what moves aside with it
RUN_FOLDERS = re.compile(r"^(checkpoints|best|tensorboard|network\d+)$")
RUN_FILES = (".png", ".json", ".npz", ".pb", ".txt")  # .pb, .txt: a retrained graph and its labels
#: the event folders a run writes into its summaries folder (:class:`cnn_cookbook.summaries.RunWriters`)
SUMMARY_RUNS = ("train", "eval", "validation")

_held = {}  # resolved folder -> lock file descriptor, for the claims this process holds


def _lock(folder):
    path = folder / LOCK_FILE
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes
        except OSError as exc:
            raise CookbookError(f"cannot create the lock file {path} ({exc.strerror}); choose another "
                                "output folder or fix its permissions", field="output_dir") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 300).decode(errors="replace").strip() or "a process that has not said which"
            os.close(fd)
            raise CookbookError(f"{folder} is in use by another run ({holder}); wait for it to finish, "
                                "or choose another output folder", field="output_dir") from None
        if _same_file(fd, path):
            break
        os.close(fd)  # the holder removed the file as we opened it: lock the new one
    os.ftruncate(fd, 0)
    os.write(fd, f"process {os.getpid()}: {' '.join(sys.argv)[:200]}\n".encode())
    return fd


def _same_file(fd, path):
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _unlock(fd, folder):
    # the file goes while still locked (a run that stops on bad input leaves nothing behind); one
    # who opened it just before sees, once it gets the lock, that it is gone, and tries again
    with contextlib.suppress(OSError):
        if _same_file(fd, folder / LOCK_FILE):
            os.remove(folder / LOCK_FILE)
    os.close(fd)


@contextlib.contextmanager
def claim(folder):
    """Hold ``folder`` for one run: yields it (a Path); :class:`CookbookError` when another
    process holds it."""
    folder = ensure_dir(folder, field="output_dir")
    key = str(folder.resolve())
    if key in _held:  # an outer claim of this process already holds it
        yield folder
        return
    _held[key] = _lock(folder)
    try:
        yield folder
    finally:
        _unlock(_held.pop(key), folder)


def keep_earlier_run(folder, keep=KEEP, announce=print, summaries_dir=None):
    """Before a fresh run first writes into ``folder``: move the run already there aside
    (:func:`move_aside`) and say where.  ``summaries_dir``: where this run's TensorBoard events
    go when that is not ``folder/tensorboard`` (which moves with the run); the earlier events
    there move to its own ``previous-runs/`` under the kept run's name."""
    kept = move_aside(folder, keep)
    if kept is not None:
        announce(f"the earlier run in {folder} was moved to {kept} (resume a run to continue it instead)")
    if summaries_dir is not None and Path(summaries_dir).resolve() != (Path(folder) / "tensorboard").resolve():
        events = _move_entries(Path(summaries_dir), _summary_entries(summaries_dir), keep,
                               kept.name if kept is not None else None)
        if events is not None:
            announce(f"the earlier TensorBoard events in {summaries_dir} were moved to {events}")
    return kept


def _summary_entries(summaries_dir):
    summaries_dir = Path(summaries_dir)
    return [summaries_dir / name for name in SUMMARY_RUNS if (summaries_dir / name).is_dir()]


def run_entries(folder):
    """The files and folders of the run at the top of ``folder`` (not the lock, not kept runs)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if (p.is_dir() and RUN_FOLDERS.match(p.name)) or (p.is_file() and p.suffix in RUN_FILES))


def move_aside(folder, keep=KEEP):
    """Move the run in ``folder`` to ``previous-runs/<time>/`` as a unit; returns it (None: no run).

    The entries go into a hidden staging folder first, which is renamed when all are in, so a
    kept run is either complete or not listed.
    """
    return _move_entries(Path(folder), run_entries(folder), keep)


def _move_entries(folder, entries, keep, name=None):
    """Move ``entries`` of ``folder`` to ``folder/previous-runs/<name>/`` (default: the time) as
    a unit and prune; returns that folder, or None when there is nothing to move."""
    if not entries:
        return None
    previous = folder / PREVIOUS
    stamp = name or time.strftime("%Y%m%d-%H%M%S")
    name, count = stamp, 1
    while (previous / name).exists():
        name, count = f"{stamp}-{count}", count + 1
    try:
        previous.mkdir(exist_ok=True)
        staging = Path(previous / f".{name}.partial")
        staging.mkdir()
        for entry in entries:
            os.replace(entry, staging / entry.name)
        for state in staging.rglob("checkpoint"):
            _paths_inside(state)
        os.replace(staging, previous / name)
    except OSError as exc:
        raise CookbookError(f"cannot move the earlier run in {folder} aside ({exc.strerror}: "
                            f"{exc.filename}); free disk space or fix its permissions, or choose another "
                            "output folder", field="output_dir") from None
    prune(previous, keep)
    return previous / name


_STATE_LINE = re.compile(r'^(\s*(?:model_checkpoint_path|all_model_checkpoint_paths):\s*)"(.*)"\s*$')


def _paths_inside(state_file):
    """Rewrite a ``checkpoint`` state file's paths as names relative to its own folder (TF reads
    relative paths against the folder), so a moved checkpoints folder never points back."""
    lines = state_file.read_text().splitlines()
    fixed = []
    for line in lines:
        match = _STATE_LINE.match(line)
        fixed.append(f'{match.group(1)}"{os.path.basename(match.group(2))}"' if match else line)
    state_file.write_text("\n".join(fixed) + "\n")


def prune(previous, keep=KEEP):
    """Delete all but the newest ``keep`` kept runs in ``previous`` (names sort by time)."""
    runs = sorted(p for p in Path(previous).iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in runs[:max(0, len(runs) - keep)]:
        shutil.rmtree(old, ignore_errors=True)


def claiming(function):
    """Decorate a training function with an ``output_dir`` parameter so that each call runs
    under :func:`claim` of its ``output_dir``."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        task = bound.arguments.get("cluster")
        if task is not None and not task.is_chief:  # a cluster's chief alone owns the folder
            return function(*args, **kwargs)
        with claim(bound.arguments["output_dir"]):
            return function(*args, **kwargs)
    return wrapped
