"""Progress bars that suit where the code runs (no TensorFlow).

- :func:`bar`, what every long job uses: a tqdm bar on a terminal (and in Jupyter), elsewhere a
  :class:`PlainProgress` with the same methods.  A bar redraws itself with carriage returns,
  which fills a log file with thousands of partial lines; PlainProgress writes one ordinary line
  every ``interval`` seconds (30, or CNN_COOKBOOK_PROGRESS_SECONDS) and a last one when such a
  job ends; a job shorter than that writes none.  ``enabled=False`` (``--no-progress``) gives a
  bar that shows nothing.
- :data:`tqdm`: ``tqdm.auto`` picks tqdm's notebook widget inside Jupyter and warns ("IProgress
  not found") when ipywidgets is missing.  :data:`tqdm` here takes the widget only when
  ipywidgets is installed (the ``notebook`` extra), else the text bar, which Jupyter shows as
  plain output without a warning.  Deciding looks only at modules already imported, so importing
  this module imports nothing new.
"""


import contextlib
import importlib.util
import os
import sys
import time
import warnings

from tqdm import tqdm as text_tqdm


def in_jupyter_kernel():
    """True inside a Jupyter (ipykernel) process: IPython is loaded and its shell is a kernel's."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def pick_tqdm():
    """The tqdm class for this process: the notebook widget or the text bar."""
    if in_jupyter_kernel() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as notebook_tqdm  # optional: only where ipywidgets is

        return notebook_tqdm
    return text_tqdm


@contextlib.contextmanager
def quiet_tqdm_auto():
    """Import libraries that import ``tqdm.auto`` themselves (pooch, and so scikit-image's data
    module) without its ipywidgets warning: their bars fall back to text, which is fine."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        yield


tqdm = pick_tqdm()



PLAIN_INTERVAL_SECONDS = 30.0


def is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or a stream-like object without isatty
        return False


def bar(total=None, desc=None, unit="it", enabled=True, initial=0, stream=None, interval=None):
    """A progress bar for ``total`` units of work: tqdm on a terminal, :class:`PlainProgress`
    elsewhere, silent when not ``enabled``.  Both have ``update``, ``set_postfix``, ``write``,
    ``reset``, ``close`` and work as context managers (and as pooch's progress bar)."""
    stream = stream if stream is not None else sys.stderr
    if not enabled:
        return tqdm(total=total, disable=True)
    if is_terminal(stream) or in_jupyter_kernel():
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=stream, dynamic_ncols=True,
                    mininterval=0.5, unit_scale=unit == "B")
    if interval is None:
        interval = float(os.environ.get("CNN_COOKBOOK_PROGRESS_SECONDS", PLAIN_INTERVAL_SECONDS))
    return PlainProgress(total, desc, unit, initial, stream, interval)


def _amount(value, unit):
    if unit == "B":
        return f"{value / 1e6:.1f} MB"
    return f"{value:g}"


class PlainProgress:
    """tqdm's interface, written as whole lines: ``desc: 120/500 step (24%), 40.1 step/s, loss=0.12``."""

    def __init__(self, total=None, desc=None, unit="it", initial=0, stream=None, interval=PLAIN_INTERVAL_SECONDS):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.postfix = ""
        self._start_n = initial
        self._started = self._last_line = time.perf_counter()
        self._written_n = None
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def line(self):
        head = f"{self.desc}: " if self.desc else ""
        if self.total:
            done = f"{_amount(self.n, self.unit)}/{_amount(self.total, self.unit)} {self.unit} " \
                   f"({100 * self.n / self.total:.0f}%)"
        else:
            done = f"{_amount(self.n, self.unit)} {self.unit}"
        elapsed = time.perf_counter() - self._started
        rate = (self.n - self._start_n) / elapsed if elapsed > 0 else 0.0
        unit = "MB" if self.unit == "B" else self.unit
        rate = rate / 1e6 if self.unit == "B" else rate
        tail = f", {self.postfix}" if self.postfix else ""
        return f"{head}{done}, {rate:.3g} {unit}/s, {elapsed:.0f} s{tail}"

    def _emit(self):
        print(self.line(), file=self.stream, flush=True)
        self._last_line = time.perf_counter()
        self._written_n = self.n

    def update(self, n=1):
        self.n += n
        if time.perf_counter() - self._last_line >= self.interval:
            self._emit()

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
        values = dict(ordered_dict or {}, **kwargs)
        self.postfix = " ".join(f"{k}={v}" for k, v in values.items())

    def set_description(self, desc=None, refresh=True):
        self.desc = desc

    def reset(self, total=None):
        self.n = self._start_n = 0
        if total is not None:
            self.total = total
        self._started = time.perf_counter()

    def refresh(self):
        pass

    @staticmethod
    def write(text, file=None, end="\n"):
        tqdm.write(text, file=file, end=end)

    def close(self):
        # a closing line only for jobs that already wrote one: a short job's log stays clean
        if not self.closed and self._written_n is not None and self.n != self._written_n:
            self._emit()
        self.closed = True
