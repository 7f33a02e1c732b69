"""Progress bars that suit where the code runs (no TensorFlow).

``tqdm.auto`` picks tqdm's notebook widget inside Jupyter and warns ("IProgress not found") when
ipywidgets is missing.  :data:`tqdm` here takes the widget only when ipywidgets is installed (the
``notebook`` extra), else the text bar, which Jupyter shows as plain output without a warning.
Deciding looks only at modules already imported, so importing this module imports nothing new.
"""

import contextlib
import importlib.util
import sys
import warnings


def in_jupyter_kernel():
    """True inside a Jupyter (ipykernel) process: IPython is loaded and its shell is a kernel's."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def pick_tqdm():
    """The tqdm class for this process: the notebook widget or the text bar."""
    if in_jupyter_kernel() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm
    from tqdm import tqdm as text_tqdm

    return text_tqdm


@contextlib.contextmanager
def quiet_tqdm_auto():
    """Import libraries that import ``tqdm.auto`` themselves (pooch, and so scikit-image's data
    module) without its ipywidgets warning: their bars fall back to text, which is fine."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        yield


tqdm = pick_tqdm()
