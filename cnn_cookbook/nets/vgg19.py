"""VGG-19 from MatConvNet's ``imagenet-vgg-verydeep-19.mat``: loader, graph builder, check head.

The loader reads both published layouts of the file:

* current (``meta`` key): mean pixel in ``meta.normalization.averageImage`` (an RGB triple);
* beta16 (``normalization`` and ``classes`` keys, the cookbook's link): the mean is the average
  over height and width of the 224x224x3 ``normalization.averageImage``.

Every layer is a MATLAB struct whose fields differ between the layouts, so fields are read by
name, never by position, and each layer's name and type is checked against conv1_1 ... relu5_4.

Kernels are used exactly as stored.  MatConvNet's Caffe importer writes them as
(height, width, in, out), which is TensorFlow's HWIO order already.  The cookbook (and other
ports) swap axes 0 and 1 "because MatConvNet is width-first"; that rests on a documentation typo
(matconvnet issues #1053, #1128) and transposes every 3x3 filter.  The tests prove the convention
on an asymmetric kernel; ``recipes/vgg19_check.py`` runs the fc6-fc8 head on a photograph so a
user with the real file can see the loading is right (a swapped load gives wrong top classes).

The graph builder (:class:`ConvStack`) is shared with the VGG-16 loader (:mod:`.vgg16`): a
network is a :class:`FeatureNetwork`, i.e. a list of conv/relu/pool layers plus the affine map
from RGB pixels (0..255) to the first convolution's input.
"""

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnn_cookbook.errors import CookbookError, DataFormatError, MissingFileError
from cnn_cookbook.fileio import atomic_path
from cnn_cookbook.io.downloads import fetch
from cnn_cookbook.paths import models_root
from cnn_cookbook.tf1 import tf

#: where the file is published (also in cnn_cookbook.io.downloads.REMOTE_FILES["vgg19"])
VGG19_URL = "https://www.vlfeat.org/matconvnet/models/imagenet-vgg-verydeep-19.mat"

#: the 36 feature layers of VGG-19 in file order (entries 0..35 of ``layers``)
VGG19_LAYERS = (
    "conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1",
    "conv2_1", "relu2_1", "conv2_2", "relu2_2", "pool2",
    "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3", "conv3_4", "relu3_4", "pool3",
    "conv4_1", "relu4_1", "conv4_2", "relu4_2", "conv4_3", "relu4_3", "conv4_4", "relu4_4", "pool4",
    "conv5_1", "relu5_1", "conv5_2", "relu5_2", "conv5_3", "relu5_3", "conv5_4", "relu5_4",
)
#: channels of each block's convolutions (conv1_* ... conv5_*)
VGG19_WIDTHS = (64, 128, 256, 512, 512)
#: MatConvNet's mean pixel (RGB) of the current-layout file
VGG19_MEAN_PIXEL = (123.68, 116.779, 103.939)
FILENAME = "imagenet-vgg-verydeep-19.mat"
# the stand-in's constants: the same names in every pretrained network's module, other values
STAND_IN_VERSION = 1
STAND_IN_FOLDER = f"vgg19-standin-v{STAND_IN_VERSION}"
STAND_IN_MARKER = "cnn_cookbook_standin"
STAND_IN_LABEL = "STAND-IN (random weights, not the trained VGG-19)"
WEIGHTS = ("auto", "real", "stand-in")

#: entries 36..42: the classifier head (fc layers are stored as convolutions)
VGG19_HEAD = ("pool5", "fc6", "relu6", "fc7", "relu7", "fc8", "prob")

_KINDS = {"conv": "conv", "relu": "relu", "pool": "pool", "fc": "conv", "prob": "softmax"}


def layer_kind(name):
    """'conv', 'relu', 'pool' or 'softmax' for a VGG layer name (fc layers are convolutions)."""
    return _KINDS[name.rstrip("0123456789_")]


@dataclass(frozen=True)
class Layer:
    """One layer: ``kind`` is conv|relu|pool; conv layers carry an HWIO kernel and a bias."""

    name: str
    kind: str
    kernel: np.ndarray = None  # float32 (height, width, in, out)
    bias: np.ndarray = None  # float32 (out,)


@dataclass(frozen=True)
class FeatureNetwork:
    """A convolutional feature extractor (VGG-19 or VGG-16) as plain NumPy arrays.

    ``input_matrix`` (3x3) and ``input_offset`` (3,) map an RGB pixel p in 0..255 to the first
    convolution's input ``p @ input_matrix + input_offset`` (for VGG-19: identity and minus the
    mean pixel).  ``head`` holds pool5 + fc6..fc8 when the file has them (for the check).
    """

    name: str
    layers: tuple
    input_matrix: np.ndarray
    input_offset: np.ndarray
    source: str = ""
    head: tuple = ()
    class_names: tuple = ()
    image_size: tuple = (224, 224)
    notes: tuple = field(default=())
    stand_in: bool = False  # generated random weights (write_stand_in_mat), not a trained network

    @property
    def layer_names(self):
        return tuple(layer.name for layer in self.layers)

    @property
    def mean_pixel(self):
        """The RGB pixel (0..255) that the network sees as zero input."""
        return np.linalg.solve(self.input_matrix.T.astype(np.float64),
                               -self.input_offset.astype(np.float64)).astype(np.float32)

    def stack(self):
        """Weight constants in the current default graph; call the result on image tensors."""
        return ConvStack(self)


class ConvStack:
    """The network's weights as graph constants, created once; calling it builds the layers.

    Calling it several times (content image, style images, the image being optimised) reuses the
    same constants instead of embedding the weights once per call.
    """

    def __init__(self, network):
        self.network = network
        self._constants = {}
        with tf.name_scope(network.name + "_weights"):
            for layer in network.layers + network.head:
                if layer.kind == "conv":
                    self._constants[layer.name] = (
                        tf.constant(layer.kernel, name=layer.name + "_kernel"),
                        tf.constant(layer.bias, name=layer.name + "_bias"))
            self._input_matrix = tf.constant(network.input_matrix.astype(np.float32))
            self._input_offset = tf.constant(network.input_offset.astype(np.float32))
        self._identity_input = np.allclose(network.input_matrix, np.eye(3))

    def preprocess(self, images):
        """RGB 0..255 [N,H,W,3] -> the first convolution's input."""
        if self._identity_input:
            return images + self._input_offset
        return tf.tensordot(images, self._input_matrix, axes=[[3], [0]]) + self._input_offset

    def __call__(self, images, pooling="max", last_layer=None):
        """Build the layers on ``images`` (float32 [N,H,W,3], RGB 0..255).

        ``pooling`` is ``max`` (VGG's own) or ``avg`` (Gatys et al. suggest it for smoother
        results).  Stops after ``last_layer`` when given.  Returns an OrderedDict name -> tensor.
        """
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
        endpoints = OrderedDict()
        net = self.preprocess(images)
        with tf.name_scope(self.network.name):
            for layer in self.network.layers:
                net = self._apply(layer, net, pooling)
                endpoints[layer.name] = net
                if layer.name == last_layer:
                    break
        return endpoints

    def _apply(self, layer, net, pooling, padding="SAME"):
        if layer.kind == "conv":
            kernel, bias = self._constants[layer.name]
            conv = tf.nn.conv2d(net, kernel, strides=[1, 1, 1, 1], padding=padding)
            return tf.nn.bias_add(conv, bias, name=layer.name)
        if layer.kind == "relu":
            return tf.nn.relu(net, name=layer.name)
        if layer.kind == "pool":
            pool = tf.nn.max_pool if pooling == "max" else tf.nn.avg_pool
            return pool(net, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME", name=layer.name)
        raise ValueError(f"unknown layer kind {layer.kind!r}")

    def classify(self, images):
        """fc6-fc8 head on 224x224 ``images`` (RGB 0..255): class probabilities [N, classes].

        pool5 is max pooling as trained; fc6 is a VALID 7x7 convolution on pool5 (the file
        stores the fully connected layers as convolutions).
        """
        if not self.network.head:
            raise DataFormatError(f"{self.network.source} has no fc6-fc8 layers, so it cannot "
                                  "classify; use the complete imagenet-vgg-verydeep-19.mat")
        net = self(images, pooling="max")[self.network.layers[-1].name]
        for layer in self.network.head:
            if layer.kind == "softmax":
                break
            net = self._apply(layer, net, "max", padding="VALID")
        return tf.nn.softmax(tf.reshape(net, [tf.shape(net)[0], -1]))


# ---------------------------------------------------------------------------------------------
# MatConvNet .mat parsing (NumPy only)


def _not_vgg19(path, why):
    return DataFormatError(f"{path} is not the VGG-19 MatConvNet file ({why}); get "
                           f"imagenet-vgg-verydeep-19.mat from {VGG19_URL} (run with --download)")


def _unwrap(value):
    """Strip the 1x1 object arrays scipy.io wraps around cells and struct fields."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.reshape(-1)[0]
    return value


def _text(value):
    value = _unwrap(value)
    if isinstance(value, str):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "US":
        return "".join(str(item) for item in array.reshape(-1))
    return None


def _record(value):
    """The np.void record of a MATLAB struct, or None."""
    value = _unwrap(value)
    if isinstance(value, np.ndarray) and value.dtype.names and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, np.void) and value.dtype.names:
        return value
    return None


def _field(record, name):
    return record[name] if record is not None and name in record.dtype.names else None


def _conv_arrays(path, record, name, in_channels):
    weights = _field(record, "weights")
    cells = None if weights is None else np.asarray(weights, dtype=object).reshape(-1)
    if cells is None or cells.size != 2:
        raise _not_vgg19(path, f"layer {name} has no [kernel, bias] weights")
    kernel = np.asarray(cells[0], dtype=np.float32)
    bias = np.asarray(cells[1], dtype=np.float32).reshape(-1)
    if kernel.ndim == 3:  # MATLAB drops a trailing singleton (out = 1); never in VGG, but be exact
        kernel = kernel[..., None]
    if kernel.ndim != 4 or bias.size != kernel.shape[3]:
        raise _not_vgg19(path, f"layer {name} has kernel {kernel.shape} and bias {bias.shape}")
    if in_channels is not None and kernel.shape[2] != in_channels:
        raise _not_vgg19(path, f"layer {name} expects {kernel.shape[2]} input channels, "
                               f"the layer before gives {in_channels}")
    # Kernels are (height, width, in, out) as stored: no H/W swap (see the module docstring).
    return kernel, bias


def _mean_pixel(path, normalization):
    average = _field(_record(normalization), "averageImage")
    if average is None:
        raise _not_vgg19(path, "no normalization.averageImage")
    average = np.asarray(_unwrap(average), dtype=np.float64)
    if average.size == 3:
        return average.reshape(3)
    if average.ndim == 3 and average.shape[2] == 3:  # beta16: a whole mean image
        return average.mean(axis=(0, 1))
    raise _not_vgg19(path, f"averageImage has shape {average.shape}")


def _class_names(classes):
    description = _field(_record(classes), "description")
    if description is None:
        return ()
    names = [_text(item) for item in np.asarray(description, dtype=object).reshape(-1)]
    return tuple(name for name in names if name is not None)


def _image_size(normalization):
    size = _field(_record(normalization), "imageSize")
    if size is None:
        return (224, 224)
    size = np.asarray(_unwrap(size), dtype=np.float64).reshape(-1)
    return (int(size[0]), int(size[1])) if size.size >= 2 else (224, 224)


def load_vgg19_mat(path):
    """Read ``imagenet-vgg-verydeep-19.mat`` (either layout) into a :class:`FeatureNetwork`.

    Raises :class:`MissingFileError` when the file is absent and :class:`DataFormatError` for
    a truncated file or one holding another network (the message names the expected URL).
    """
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"imagenet-vgg-verydeep-19.mat is not at {path}; run with --download "
                               f"to fetch it from {VGG19_URL} or place it there by hand")
    try:
        data = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, zlib errors... on damage
        raise DataFormatError(f"{path} is not a readable MATLAB .mat file ({type(exc).__name__}: "
                              f"{str(exc)[:80]}); it may be truncated: delete it and download "
                              f"{VGG19_URL} again (--download)") from None
    if "layers" not in data:
        raise _not_vgg19(path, "no 'layers' variable")
    if "meta" in data:
        layout = "current"
        meta = _record(data["meta"])
        normalization, classes = _field(meta, "normalization"), _field(meta, "classes")
    elif "normalization" in data:
        layout = "beta16"
        normalization, classes = data["normalization"], data.get("classes")
    else:
        raise _not_vgg19(path, "neither 'meta' (current layout) nor 'normalization' (beta16)")

    entries = np.asarray(data["layers"], dtype=object).reshape(-1)
    if entries.size < len(VGG19_LAYERS):
        raise _not_vgg19(path, f"{entries.size} layers, VGG-19 has {len(VGG19_LAYERS) + len(VGG19_HEAD)}")
    has_head = entries.size >= len(VGG19_LAYERS) + len(VGG19_HEAD)
    expected = VGG19_LAYERS + (VGG19_HEAD if has_head else ())
    layers, channels = [], 3
    for index, name in enumerate(expected):
        record = _record(entries[index])
        found, kind = _text(_field(record, "name")), _text(_field(record, "type"))
        if found != name or kind != layer_kind(name):
            raise _not_vgg19(path, f"layer {index} is {found!r} of type {kind!r}, expected "
                                   f"{name!r} of type {layer_kind(name)!r}")
        if kind == "conv":
            kernel, bias = _conv_arrays(path, record, name, channels)
            if name.startswith("conv") and kernel.shape[:2] != (3, 3):
                raise _not_vgg19(path, f"layer {name} has a {kernel.shape[0]}x{kernel.shape[1]} kernel")
            channels = kernel.shape[3]
            layers.append(Layer(name, "conv", kernel, bias))
        else:
            layers.append(Layer(name, kind))
    mean = _mean_pixel(path, normalization)
    stand_in = STAND_IN_MARKER in data
    notes = (f"{layout} MatConvNet layout, mean pixel {np.round(mean, 3).tolist()}",)
    if stand_in:
        notes += (f"{STAND_IN_LABEL}: the images it makes show the code working, not style transfer",)
    return FeatureNetwork(
        name="vgg19", layers=tuple(layers[:len(VGG19_LAYERS)]),
        input_matrix=np.eye(3, dtype=np.float32), input_offset=(-mean).astype(np.float32),
        source=str(path), head=tuple(layers[len(VGG19_LAYERS):]),
        class_names=_class_names(classes), image_size=_image_size(normalization),
        notes=notes, stand_in=stand_in)


def top_classes(probabilities, class_names, k=5):
    """[(class name, probability)] for the ``k`` most likely classes of one probability vector."""
    probabilities = np.asarray(probabilities).reshape(-1)
    order = np.argsort(probabilities)[::-1][:k]
    return [(class_names[i] if i < len(class_names) else f"class {i}", float(probabilities[i]))
            for i in order]


def center_crop_resize(image, size=(224, 224)):
    """Resize the shorter side to 256/224 of ``size`` and crop the centre (ImageNet evaluation)."""
    from skimage.transform import resize

    height, width = image.shape[:2]
    scale = (size[0] * 256 / 224) / min(height, width)
    shape = (max(size[0], round(height * scale)), max(size[1], round(width * scale)))
    resized = resize(image, shape, order=1, preserve_range=True, anti_aliasing=True)
    top, left = (shape[0] - size[0]) // 2, (shape[1] - size[1]) // 2
    return resized[top:top + size[0], left:left + size[1]].astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Finding the file, and the offline stand-in


def _matlab_struct(**fields):
    """A 1x1 MATLAB struct as scipy.io.savemat writes one (fields in the given order)."""
    record = np.empty((1, 1), dtype=[(name, object) for name in fields])
    for name, value in fields.items():
        record[0, 0][name] = value
    return record


def _matlab_cell(items):
    cell = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        cell[0, i] = item
    return cell


def stand_in_layers(seed=0):
    """VGG-19's feature layers with their real names and HWIO shapes and random He-scaled
    weights (zero biases): a tuple of :class:`Layer`, deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    layers, channels = [], 3
    for name in VGG19_LAYERS:
        kind = layer_kind(name)
        if kind != "conv":
            layers.append(Layer(name, kind))
            continue
        out = VGG19_WIDTHS[int(name[4]) - 1]
        # He scaling keeps activations of the same order through all 16 convolutions
        kernel = rng.standard_normal((3, 3, channels, out), dtype=np.float32)
        kernel *= np.float32(np.sqrt(2.0 / (9 * channels)))
        layers.append(Layer(name, "conv", kernel, np.zeros(out, np.float32)))
        channels = out
    return tuple(layers)


def write_stand_in_mat(path, seed=0):
    """Write the stand-in .mat (current MatConvNet layout, feature layers only, ~80 MB) atomically.

    :func:`load_vgg19_mat` reads it like the real file and sets ``stand_in``.
    """
    import scipy.io


    entries = []
    for layer in stand_in_layers(seed):
        if layer.kind == "conv":
            entries.append(_matlab_struct(
                name=layer.name, type="conv", weights=_matlab_cell([layer.kernel, layer.bias[None]]),
                size=np.array([layer.kernel.shape], float), pad=np.array([[1.0, 1, 1, 1]]),
                stride=np.array([[1.0, 1]])))
        elif layer.kind == "pool":
            entries.append(_matlab_struct(name=layer.name, type="pool", method="max",
                                          pool=np.array([[2.0, 2]]), stride=np.array([[2.0, 2]])))
        else:
            entries.append(_matlab_struct(name=layer.name, type=layer.kind))
    normalization = _matlab_struct(imageSize=np.array([[224.0, 224, 3]]),
                                   averageImage=np.array(VGG19_MEAN_PIXEL).reshape(1, 1, 3))
    content = {
        "layers": _matlab_cell(entries),
        "meta": _matlab_struct(normalization=normalization),
        STAND_IN_MARKER: f"{STAND_IN_LABEL}; generated by cnn_cookbook v{STAND_IN_VERSION}, seed {seed}",
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        scipy.io.savemat(handle, content)
    return Path(path)


def locate_vgg19(weights="auto", path=None, models_dir=None, download=False):
    """``(path, stand_in)`` of the VGG-19 file a run should use.

    ``path``: an explicit file (``--vgg``), used as given.  Otherwise ``weights``: ``real`` needs
    ``<models>/imagenet-vgg-verydeep-19.mat`` (``download`` fetches it; without it the error
    names the path and URL); ``stand-in`` uses the generated stand-in (written once into
    ``<models>/vgg19-standin-v1/``); ``auto`` uses the real file when present or downloadable,
    else the stand-in.
    """
    if path is not None:
        return Path(path), None
    if weights not in WEIGHTS:
        raise CookbookError(f"the weights must be one of {', '.join(WEIGHTS)}, not {weights!r}", field="weights")
    models_dir = Path(models_dir) if models_dir is not None else models_root()
    if weights == "real" or (weights == "auto" and ((models_dir / FILENAME).is_file() or download)):
        return fetch("vgg19", models_dir, download=download), False
    stand_in = models_dir / STAND_IN_FOLDER / FILENAME
    if not stand_in.is_file():
        write_stand_in_mat(stand_in)
    return stand_in, True
