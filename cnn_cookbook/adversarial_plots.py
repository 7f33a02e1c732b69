"""The figures of the adversarial chapters (NumPy results in, matplotlib Figures out; nothing is
shown or saved here): Hvass #12's noise images, noisy examples and immunity rounds, Hvass #11's
original / adversarial / noise triple, and FGSM's accuracy curve and examples.
"""

import numpy as np

from cnn_cookbook import plots


def _plain(image):
    image = np.asarray(image)
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def noise_figure(noises, titles, limit, title="Adversarial noise (red > 0, blue < 0)", cols=5):
    """Noise images [K, H, W, C] (C=1) in a seismic colour map from -limit to +limit (Hvass #12)."""
    noises = np.asarray(noises)
    count = len(noises)
    cols = min(cols, count)
    rows = -(-count // cols)
    fig = plots.new_figure(1.8 * cols + 0.8, 1.9 * rows + 0.4)
    for i in range(count):
        ax = fig.add_subplot(rows, cols, i + 1)
        shown = ax.imshow(_plain(noises[i]).mean(axis=-1) if noises[i].shape[-1] == 3 else _plain(noises[i]),
                          cmap="seismic", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_xlabel(titles[i])
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=fig.axes, shrink=0.8)
    fig.suptitle(title)
    return fig


def noisy_examples_figure(images, noise, labels, predictions, class_names, count=9):
    """The first ``count`` test images with the noise added, titled true / predicted class."""
    noisy = np.clip(np.asarray(images[:count]) + noise, 0.0, 1.0)
    titles = [f"True: {class_names[t]} Pred: {class_names[p]}" for t, p in zip(labels[:count], predictions[:count])]
    return plots.image_grid(noisy, titles, cols=3, title="Test images with the adversarial noise")


def immunity_figure(rounds):
    """Accuracy under each fresh attack and after the immunity steps, per round."""
    fig = plots.new_figure(7, 4)
    ax = fig.add_subplot()
    x = np.arange(len(rounds))
    ax.plot(x, [100 * r["accuracy_under_attack"] for r in rounds], "rv-", label="under attack")
    ax.plot(x, [100 * r["accuracy_after_immunity"] for r in rounds], "g^-", label="after immunity steps")
    ax.set_xticks(x, [str(r["target"]) for r in rounds])
    ax.set(xlabel="target class of each round", ylabel="test accuracy with the noise (%)", ylim=(0, 100),
           title="Immunity training (Hvass #12)")
    ax.legend(loc="lower right")
    return fig


def _normalize(image):
    """Stretch to 0..1 (Hvass #11's 'amplified noise')."""
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def targeted_figure(result, index, class_name, value_range):
    """Hvass #11's figure: original, adversarial image, amplified noise, with the scores."""
    i = index
    source, target = int(result.source_classes[i]), int(result.targets[i])
    top = value_range[1]
    images = [result.original[i], result.adversarial[i], _normalize(result.noise[i]) * top]
    titles = [f"Original:\n{class_name(source)} ({100 * result.source_scores_original[i]:.2f}%)",
              f"Image + noise:\n{class_name(source)} ({100 * result.source_scores[i]:.2f}%)\n"
              f"{class_name(target)} ({100 * result.target_scores[i]:.2f}%)",
              f"Amplified noise\n(limit +-{np.abs(result.noise[i]).max() * 255 / top:.2f} of 255)"]
    return plots.image_grid(images, titles, cols=3, vmax=top, size=3.0)


def fgsm_curve_figure(rows, title="FGSM: accuracy against epsilon"):
    fig = plots.new_figure(6, 4)
    ax = fig.add_subplot()
    ax.plot([r["epsilon"] for r in rows], [100 * r["accuracy"] for r in rows], "o-")
    ax.set(xlabel="epsilon (fraction of the pixel range)", ylabel="accuracy (%)", ylim=(0, 100), title=title)
    ax.grid(alpha=0.3)
    return fig


def fgsm_examples_figure(examples, class_name, value_range, count=5):
    """One row per epsilon: adversarial images titled with prediction and confidence."""
    epsilons = list(examples)
    images, titles = [], []
    for epsilon in epsilons:
        perturbed, predictions, scores = examples[epsilon]
        for image, prediction, score in list(zip(perturbed, predictions, scores))[:count]:
            images.append(image)
            titles.append(f"eps {epsilon:g}: {class_name(int(prediction))}\n{100 * score:.1f}%")
    cols = min(count, len(examples[epsilons[0]][0]))
    return plots.image_grid(images, titles, cols=cols, vmax=value_range[1], title="FGSM examples")
