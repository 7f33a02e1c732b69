"""cnn_cookbook: the classic TensorFlow 1.x CNN recipes, runnable today.

Graph-mode TensorFlow through ``tensorflow.compat.v1`` (see :mod:`cnn_cookbook.tf1`).
Importing this package is free of side effects: TensorFlow itself is imported only by the
modules that build graphs.

Who owns the Graph and the Session (one rule, every chapter):

1. Graph-piece functions (networks in ``nets``, ``training.build_classifier``, the attacks, the
   style and dream losses) take tensors and return tensors.  They add ops to the default graph
   and never create a Graph or open a Session.
2. Loaders (``datasets``, ``io``, the ``nets`` file loaders) read files and return arrays or
   build graph pieces in the default graph.  They never open a Session either.
3. Each chapter has one entry function (``train_mnist``, ``train_cifar10``, ``train_ensemble``,
   ``retrain_on_folders``, ...).  It alone creates the chapter's ``tf.Graph``, opens its one
   Session with ``tf1.new_session`` and returns a :class:`cnn_cookbook.results.ChapterRun`
   (metrics, history where it trains, figures, paths of what it wrote, chapter outputs).
4. Step generators (``stylenet.stylize``, ``deepdream`` octaves, ``training.fit``) run inside a
   Session someone else opened; the entry function is built on them, and a notebook that wants
   every step opens its own Session with ``tf1.new_session`` and drives the generator itself.
5. Recipes (``recipes/*.py``) parse flags, call one entry function and report through ``cli``.
   They build no graph ops, open no Session and assemble no metrics.
"""

__version__ = "0.1.0"

# `python -m cnn_cookbook.<library module>` imports this package before it runs the module: a
# module that is not a program is refused here, before it (and TensorFlow) is imported.  Every
# other import returns at once, with no side effect (see cnn_cookbook._as_program).
from cnn_cookbook import _as_program  # noqa: E402

_as_program.refuse_library_module()
