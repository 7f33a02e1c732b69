"""Adversarial noise (Hvass #12), targeted adversarial images (#11) and FGSM on a small trained CNN."""

import numpy as np
import pytest

TARGET = 3


@pytest.fixture(scope="module")
def trained(mnist_dir):
    """A Hvass CNN with the noise layer, trained briefly on 5000 synthetic digits; weights kept
    so every test starts from the same trained network and zero noise."""
    from cnn_cookbook import universal_noise as un
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.nets import get_network
    from cnn_cookbook.tf1 import new_session, seed_everything, tf

    data = load_mnist("idx", mnist_dir, validation_size=1000)
    graph = tf.Graph()
    with graph.as_default():
        rng = seed_everything(1)
        net = un.build_noisy_classifier(get_network("hvass-cnn"), data.image_shape, 10,
                                         lambda rate: tf.train.AdamOptimizer(rate), 1e-3)
        session = new_session(graph, "cpu")
        session.run(tf.global_variables_initializer())
        un.train_steps(session, net, data.train, 150, 64, rng)
        weights = tf.trainable_variables()
        saved = session.run(weights)

        def fresh():
            for variable, value in zip(weights, saved):
                variable.load(value, session)
            un.reset_noise(session, net)
            return session

        yield {"data": data, "net": net, "graph": graph, "fresh": fresh, "rng": rng, "weights": weights}
        session.close()


def universal_noise(trained):
    """The noise towards TARGET for the trained network (found once, 150 adversarial steps)."""
    from cnn_cookbook import universal_noise as un

    if "noise" not in trained:
        session = trained["fresh"]()
        trained["noise"] = un.find_universal_noise(session, trained["net"], trained["data"].train, TARGET, 150,
                                                    64, trained["rng"])
    return trained["noise"]


def _network(net):
    from cnn_cookbook import graphs

    return graphs.ImageNetwork(images=net.images, layers={}, value_range=(0.0, 1.0), logits=net.logits)


def test_noise_stays_within_its_limit_after_every_step_and_only_the_noise_changes(mnist_dir):
    from cnn_cookbook import universal_noise as un
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.nets import get_network
    from cnn_cookbook.tf1 import new_session, tf

    data = load_mnist("idx", mnist_dir)
    limit = 0.03
    with tf.Graph().as_default() as graph:
        net = un.build_noisy_classifier(get_network("hvass-cnn"), data.image_shape, 10,
                                         lambda rate: tf.train.GradientDescentOptimizer(rate), 0.5,
                                         noise_limit=limit, adversary_learning_rate=0.02)
        assert net.noise not in tf.trainable_variables()  # the normal optimiser cannot touch it
        with new_session(graph, "cpu") as session:
            session.run(tf.global_variables_initializer())
            weights = session.run(tf.trainable_variables())
            feed = {net.images: data.train.images[:16], net.labels: np.full(16, TARGET)}
            extremes = []
            for _ in range(12):
                session.run(net.adversary.train_op, feed)
                noise = un.get_noise(session, net)
                assert np.abs(noise).max() <= limit + 1e-7
                extremes.append(np.abs(noise).max())
            assert extremes[-1] == pytest.approx(limit)  # the clip was needed: Adam went past the limit
            for before, after in zip(weights, session.run(tf.trainable_variables())):
                np.testing.assert_array_equal(before, after)
            # the network sees a valid image: input + noise clipped to 0..1
            seen = session.run(net.noisy_images, {net.images: np.ones((1, 28, 28, 1), np.float32)})
            assert seen.max() <= 1.0 and seen.min() >= 1.0 - limit - 1e-6
            un.reset_noise(session, net)
            assert not un.get_noise(session, net).any()
            # the adversarial optimiser's moments are reset with the noise (the tutorial kept them)
            slots = [v for v in tf.global_variables() if "AdversaryAdam" in v.op.name]
            assert slots and all(not np.any(session.run(v)) for v in slots if v.get_shape().ndims)


def test_universal_noise_moves_most_test_images_to_the_target(trained):
    from cnn_cookbook import universal_noise as un

    noise = universal_noise(trained)
    session, net, data = trained["fresh"](), trained["net"], trained["data"]
    clean = un.noisy_evaluation(session, net, data.test.images, data.test.labels, TARGET)
    assert clean["accuracy"] > 0.85
    assert np.abs(noise).max() <= net.noise_limit + 1e-7
    un.set_noise(session, net, noise)
    attacked = un.noisy_evaluation(session, net, data.test.images, data.test.labels, TARGET)
    assert attacked["to_target"] > 0.6 > clean["to_target"]
    assert attacked["accuracy"] < clean["accuracy"] - 0.5


def test_immunity_training_raises_accuracy_on_noisy_images(trained):
    from cnn_cookbook import universal_noise as un

    noise = universal_noise(trained)
    session, net, data, rng = trained["fresh"](), trained["net"], trained["data"], trained["rng"]
    test = data.test.images, data.test.labels
    before = un.accuracy_with_noise(session, net, noise, *test)
    result = un.make_immune(session, net, data.train, TARGET, 100, 100, 64, rng, *test)
    assert result["accuracy_after_immunity"] > result["accuracy_under_attack"] + 0.3
    # the network now resists the noise found before the immunity training
    assert un.accuracy_with_noise(session, net, noise, *test) > before + 0.3


def test_targeted_attack_moves_images_to_the_target_within_the_limit(trained):
    from cnn_cookbook import adversarial_plots
    from cnn_cookbook import attacks

    session, net, data = trained["fresh"](), trained["net"], trained["data"]
    network = _network(net)
    attack = attacks.build_targeted_attack(network)
    images = data.test.images[data.test.labels != TARGET][:24]
    # #11's defaults (limit 3, step 7 of 255): the noise stays within 3/255
    small = attacks.find_adversarial_images(session, network, attack, images, TARGET, max_steps=5)
    assert np.abs(small.noise).max() <= 3 / 255 + 1e-6
    assert small.target_scores.mean() > small.target_scores_original.mean()
    # with #12's budget (0.35 = 90/255) most digits become the target
    result = attacks.find_adversarial_images(session, network, attack, images, TARGET, noise_limit=90.0,
                                         required_score=0.9, max_steps=60)
    assert result.success.mean() > 0.6
    assert np.abs(result.noise).max() <= 90 / 255 + 1e-6
    np.testing.assert_allclose(result.adversarial - result.original, result.noise, atol=1e-6)
    assert result.adversarial.min() >= 0.0 and result.adversarial.max() <= 1.0
    done = result.target_scores >= 0.9
    assert done.any() and (result.steps[done] < 60).all()  # an image stops once its score is reached
    fig = adversarial_plots.targeted_figure(result, 0, str, network.value_range)
    assert "Image + noise" in fig.axes[1].get_title()


def test_fgsm_epsilon_zero_changes_nothing_and_larger_epsilons_lower_accuracy(trained):
    from cnn_cookbook import attacks
    from cnn_cookbook import universal_noise as un

    session, net, data = trained["fresh"](), trained["net"], trained["data"]
    network = _network(net)
    fgsm = attacks.build_fgsm(network)
    images, labels = data.test.images[:400], data.test.labels[:400]
    signs = attacks.signed_gradients(session, network, fgsm, images, labels)
    assert set(np.unique(signs)) <= {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(attacks.fgsm_images(images, signs, 0.0, (0.0, 1.0)), images)
    rows, examples = attacks.fgsm_accuracy(session, network, fgsm, images, labels, [0.0, 0.1, 0.3])
    clean = un.noisy_evaluation(session, net, images, labels)["accuracy"]
    accuracy = [r["accuracy"] for r in rows]
    assert accuracy[0] == clean
    assert accuracy[1] < accuracy[0] - 0.1 and accuracy[2] <= accuracy[1]
    assert set(examples) == {0.0, 0.1, 0.3}
    with pytest.raises(Exception, match="epsilons must be >= 0"):
        attacks.fgsm_images(images, signs, -0.1, (0.0, 1.0))


def test_targeted_attack_on_the_inception_v3_stand_in_uses_the_resized_input(tmp_path):
    from cnn_cookbook import attacks
    from cnn_cookbook.fileio import save_image
    from cnn_cookbook.nets import inception_v3 as iv3
    from cnn_cookbook.tf1 import new_session, tf

    graph_def = iv3.stand_in_graph_def(seed=3)
    rng = np.random.default_rng(0)
    picture = save_image(tmp_path / "photo.png", rng.integers(0, 256, (120, 160, 3)))
    with tf.Graph().as_default() as graph:
        network = iv3.inception_v3_network(graph_def)
        # the gradient is taken at the resized image, as in #11: the fed placeholder replaces it
        resize_consumers = graph.get_tensor_by_name(network.prefix + iv3.RESIZED).consumers()
        assert not resize_consumers and network.images.consumers()
        with new_session(graph, "cpu") as session:
            resized = iv3.resized_image(session, network, picture)
            assert resized.shape == (1, 299, 299, 3) and 0 <= resized.min() and resized.max() <= 255
            attack = attacks.build_targeted_attack(network)
            result = attacks.find_adversarial_images(session, network, attack, resized, 300, max_steps=4)
    assert np.abs(result.noise).max() <= 3.0 + 1e-4 and np.abs(result.noise).max() > 1.0
    assert result.steps[0] == 4 and len(result.target_score_history) == 4
    assert result.target_scores[0] > result.target_scores_original[0]


def test_a_cifar_checkpoint_is_attacked_on_its_centrally_cropped_test_set(tmp_path):
    from cnn_cookbook import adversarial as adv
    from cnn_cookbook import training
    from cnn_cookbook.datasets.cifar10 import find_cifar10, read_binary_split
    from cnn_cookbook.nets import get_network
    from cnn_cookbook.tf1 import new_session, tf
    from cnn_cookbook.checkpoint_network import load_checkpoint_network

    checkpoint_dir, data_dir = tmp_path / "checkpoints", tmp_path / "data"
    info = {"network": "cifar10-cookbook", "image_shape": [24, 24, 3], "num_classes": 10, "dataset": "synthetic"}
    with tf.Graph().as_default() as graph:  # an untrained network is enough to check the plumbing
        get_network(info["network"])(tf.placeholder(tf.float32, [None, 24, 24, 3]), 10, False)
        with new_session(graph, "cpu") as session:
            session.run(tf.global_variables_initializer())
            training.Checkpoints(checkpoint_dir).save(session, 0)
    training.write_network_info(checkpoint_dir, **info)
    images, labels = adv.checkpoint_test_set(info, data_dir=data_dir)
    full, full_labels = read_binary_split(find_cifar10("synthetic", data_dir, announce=None)[0], "test")
    np.testing.assert_allclose(images, full[:, 4:28, 4:28].astype(np.float32) / 255.0)
    np.testing.assert_array_equal(labels, full_labels)
    with tf.Graph().as_default() as graph:
        network = load_checkpoint_network(checkpoint_dir)
        with new_session(graph, "cpu") as session:
            network.restore(session)
            probabilities = session.run(tf.nn.softmax(network.logits), {network.images: images[:200]})
            settings = adv.ImageAttackSettings(target=3, max_steps=3, epsilons=(0.0, 0.1))
            metrics, figures = adv.image_attack_experiment(session, network, images[:2], images[:200],
                                                           labels[:200], settings)
    assert metrics["fgsm"]["curve"][0]["accuracy"] == pytest.approx(np.mean(probabilities.argmax(1) == labels[:200]))
    assert metrics["targeted"]["images"] == 2 and metrics["targeted"]["max_abs_noise_0_255"] <= 3.0 + 1e-3
    assert {"targeted_0", "fgsm_accuracy", "fgsm_examples"} <= set(figures)
