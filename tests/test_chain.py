"""The chainable builder (Hvass #03): the chained network is hvass-cnn, variable for variable.

(tests/test_plots.py trains hvass-chain through the MNIST chapter.)
"""

import numpy as np

from cnn_cookbook.tf1 import tf


def _variables(scope):
    return {v.op.name[len(scope) + 1:]: v for v in tf.global_variables(scope)}


def test_chained_network_has_hvass_cnns_variables_and_outputs_from_the_same_weights():
    from cnn_cookbook.nets import get_network
    from cnn_cookbook.nets.mnist import hvass_cnn

    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)
        images = tf.placeholder(tf.float32, [None, 28, 28, 1])
        chained, chained_ends = get_network("hvass-chain")(images, 10, False)
        plain, plain_ends = hvass_cnn(images, 10, False)
        ours, theirs = _variables("hvass_chain"), _variables("hvass_cnn")
        assert sorted(ours) == sorted(theirs) == sorted(f"{layer}/{kind}" for layer in ("conv1", "conv2", "fc1", "fc2")
                                                        for kind in ("weights", "biases"))
        for name, variable in ours.items():
            assert variable.get_shape().as_list() == theirs[name].get_shape().as_list(), name
        copy = [tf.assign(ours[name], theirs[name]) for name in ours]
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            x = np.random.default_rng(0).random((5, 28, 28, 1)).astype(np.float32)
            before = session.run([chained, plain], {images: x})
            session.run(copy)
            after = session.run([chained, plain, chained_ends["conv2"], plain_ends["conv2"]], {images: x})
    assert not np.allclose(before[0], before[1])  # independent initialisations differ ...
    np.testing.assert_allclose(after[0], after[1], rtol=1e-5, atol=1e-5)  # ... and copied weights agree
    # the chained conv layer applies ReLU before pooling, hvass-cnn after: equal once both are activated
    np.testing.assert_allclose(after[2], np.maximum(after[3], 0), rtol=1e-5, atol=1e-5)
    assert list(chained_ends) == ["conv1", "conv2", "fc1", "logits"]


def test_dropout_and_batch_norm_switch_with_training_and_the_classifier_gives_a_loss():
    from cnn_cookbook.nets.chain import wrap

    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(1)
        images = tf.placeholder(tf.float32, [None, 8, 8, 3])
        labels = tf.placeholder(tf.int32, [None])
        training = tf.placeholder_with_default(False, [])
        head = wrap(images, training=training).\
            conv2d(kernel=3, depth=4, name="conv", batch_normalize=True).\
            max_pool(kernel=2, stride=2).\
            flatten().\
            dropout(keep_prob=0.5).\
            softmax_classifier(num_classes=3, labels=labels)
        assert {"conv/weights", "conv/batch_norm/beta"} <= {v.op.name for v in tf.global_variables()}
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            x = np.random.default_rng(1).random((6, 8, 8, 3)).astype(np.float32)
            feed = {images: x, labels: [0, 1, 2, 0, 1, 2]}
            test_a, test_b = (session.run(head.probabilities, feed) for _ in range(2))
            train_a, train_b = (session.run(head.probabilities, {**feed, training: True}) for _ in range(2))
            loss, probabilities = session.run([head.loss, head.probabilities], feed)
    np.testing.assert_array_equal(test_a, test_b)     # inference is deterministic
    assert not np.allclose(train_a, train_b)          # dropout draws a new mask each step
    expected = -np.mean(np.log(probabilities[np.arange(6), [0, 1, 2, 0, 1, 2]]))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
