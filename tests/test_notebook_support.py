"""What the library does for notebooks: Figures that IPython renders as PNG by themselves,
progress bars without the ipywidgets warning, and a clear error when a classifier is rebuilt
in the same graph (a cell run twice)."""

import subprocess
import sys

import pytest

from cnn_cookbook import plots
from cnn_cookbook.errors import CookbookError


def test_library_figures_render_as_png_in_ipython_rich_display():
    formatters = pytest.importorskip("IPython.core.formatters")
    fig = plots.image_grid([[[0.0, 1.0], [1.0, 0.0]]], ["a"])
    data = formatters.DisplayFormatter().format(fig)[0]
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_bar_is_text_outside_jupyter_and_importing_warns_nothing():
    code = ("import warnings; warnings.simplefilter('error');"
            "import cnn_cookbook.progress as p, tqdm;"
            "assert p.tqdm is tqdm.tqdm and not p.in_jupyter_kernel()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_building_the_same_classifier_twice_in_one_graph_names_reset_default_graph():
    from cnn_cookbook import training
    from cnn_cookbook.nets.mnist import cookbook_cnn
    from cnn_cookbook.tf1 import tf

    def build():
        return training.build_classifier(cookbook_cnn, (28, 28, 1), 10,
                                         lambda rate: tf.train.MomentumOptimizer(rate, 0.9), 0.005)

    with tf.Graph().as_default():
        build()
        count = len(tf.global_variables())
        with pytest.raises(CookbookError, match=r"tf\.reset_default_graph\(\)"):
            build()
        assert len(tf.global_variables()) == count  # nothing half-built was reused
    with tf.Graph().as_default():  # a fresh graph builds fine again
        assert build().train_op is not None
