"""cnn_cookbook: the classic TensorFlow 1.x CNN recipes, runnable today.

Graph-mode TensorFlow through ``tensorflow.compat.v1`` (see :mod:`cnn_cookbook.tf1`).
Importing this package is free of side effects: TensorFlow itself is imported only by the
modules that build graphs.

Who owns the Graph and the Session (one rule, every chapter; tests/test_architecture.py checks
what of it can be read from the code):

1. Graph-piece functions (networks in ``nets``, ``training.build_classifier``, ``attacks``, the
   style and dream losses) take tensors and return tensors.  They add ops to the default graph
   and never create a Graph or open a Session.
2. Loaders (``io``, ``graphs``, ``datasets``, the ``nets`` file loaders) read files and return
   arrays, GraphDefs or graph pieces built in the default graph.  They never open a Session.
   (The stand-in generators build a throwaway ``tf.Graph`` only to serialise it.)
3. The function that creates a ``tf.Graph`` owns it: it opens that graph's Session, always
   through ``tf1.new_session``, and closes it before it returns, or returns it inside an object
   whose ``close()`` does (``bottlenecks.open_transfer_session``, ``serving.load``: a SavedModel
   loads into a Session).
4. Each chapter has one entry function, the one its recipe calls, and it returns a
   :class:`cnn_cookbook.results.ChapterRun` (metrics, history where it trains, figures, paths of
   what it wrote, chapter outputs):

   ==============================  ===============================================
   MNIST (cookbook, Hvass #01-#04)  ``mnist_cnn.train_mnist``
   CIFAR-10                         ``cifar10_cnn.train_cifar10``
   ensembles (Hvass #05)            ``ensemble.train_ensemble``
   retraining (Hvass #07-#09)       ``retrain.retrain_on_folders`` (``classify_images``,
                                    ``predict_with_retrained``: the recipe's other commands)
   universal noise (Hvass #12)      ``adversarial.universal_noise_experiment``
   adversarial images (#11, FGSM)   ``adversarial.attack_images``
   style transfer                   ``stylenet.transfer_style``
   the VGG-19 check                 ``stylenet.check_vgg19``
   DeepDream                        ``deepdream.dream``
   filters and classes (Hvass #13)  ``visualize.visualize_filters``
   ==============================  ===============================================

   A chapter that needs two graphs (retraining: the frozen Inception graph that computes the
   bottlenecks, and the new top layer) gets each from a helper its entry function calls.  In
   cluster mode the Session is a cluster task's (``cluster.Worker.session``), still opened for
   the entry function, inside it.
5. Step generators (``stylenet.stylize``, ``training.fit``) run inside a Session someone else
   opened.  The entry function is built on them; a notebook that wants every step opens its own
   Session with ``tf1.new_session`` and drives the generator itself.
6. Recipes (``recipes/*.py``) parse flags, call one entry function and report through ``cli``.
   They build no graph ops, open no Session and assemble no metrics.
"""

__version__ = "0.1.0"

# `python -m cnn_cookbook.<library module>` imports this package before it runs the module: a
# module that is not a program is refused here, before it (and TensorFlow) is imported.  Every
# other import returns at once, with no side effect (see cnn_cookbook._as_program).
from cnn_cookbook import _as_program  # noqa: E402

_as_program.refuse_library_module()
