"""The bad-input battery: each malformed or hostile input, run through the real recipe or loader.

Every case builds its input in a fresh folder, runs a recipe's ``main(argv)`` in this process
(TensorFlow is imported once for all of them) or a loader through :func:`cli.main_wrapper`,
and asserts the same six things: exit status 2, exactly one line on stderr and it starts with
``error:``, no traceback anywhere, the line names the file (or the flag) at fault, every file
that was there before is still there and unchanged, and no new file (no temp file, no partial
output) was left behind.  docs/errors.md gives the number of cases.

Cases that must *succeed* (an archive member with setuid bits comes out without them, a grey
+alpha PNG is read, a small MNIST-format set trains) are tests of their own further down.
"""

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnn_cookbook import cli
from cnn_cookbook.datasets import cifar10 as c10
from cnn_cookbook.io.downloads import extract_archive
from cnn_cookbook.datasets.idx import write_idx
from conftest import load_recipe as recipe

REPO = Path(__file__).resolve().parents[1]


def loader(function, *args, **kwargs):
    """A library call run the way a recipe runs it: CookbookError -> one line, exit status 2."""
    return cli.main_wrapper(lambda argv: function(*args, **kwargs))


# ---------------------------------------------------------------------------------------------
# Inputs in the real formats


def mnist_folder(root, train=60, test=20, names="gz", **replace):
    """The four idx files of random digits; ``replace`` maps a key of mnist.FILES to raw bytes
    (or None: leave the file out)."""
    from cnn_cookbook.datasets.mnist import FILES, file_names

    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, train, dtype=np.uint8),
              "test_images": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
              "test_labels": rng.integers(0, 10, test, dtype=np.uint8)}
    root.mkdir(parents=True, exist_ok=True)
    for key in FILES:
        name = file_names(key)[{"gz": 0, "raw": 1, "dotted": 2, "dotted-gz": 3}[names]]
        if key in replace:
            if replace[key] is not None:
                (root / name).write_bytes(replace[key])
        else:
            write_idx(root / name, arrays[key])
    return root


def idx_bytes(array, compress=False):
    array = np.asarray(array, dtype=np.uint8)
    data = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    return gzip.compress(data) if compress else data


def _cifar_batches(folder, seed, make, encode, suffix="", edit=None):
    """One file per CIFAR-10 batch in ``folder``: ``make(name, rng)`` builds the batch, which
    ``edit(name, batch)`` may change in place or replace by returning other bytes for the file."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name in c10.TRAIN_BATCHES + (c10.TEST_BATCH,):
        batch = make(name, rng)
        data = edit(name, batch) if edit else None
        (folder / f"{name}{suffix}").write_bytes(data if isinstance(data, bytes) else encode(batch))
    return folder


def cifar_binary_folder(root, per_batch=10, edit=None):
    """cifar-10-batches-bin/ with ``per_batch`` records per file (uint8 [N, 3073] records)."""
    def records(name, rng):
        return np.concatenate([rng.integers(0, 10, (per_batch, 1)),
                               rng.integers(0, 256, (per_batch, c10.IMAGE_BYTES))], axis=1).astype(np.uint8)
    _cifar_batches(root / c10.BINARY_FOLDER, 1, records, lambda r: r.tobytes(), ".bin", edit)
    return root


def cifar_python_folder(root, per_batch=4, edit=None):
    """cifar-10-batches-py/ with small batches (the pickled dicts)."""
    def batch(name, rng):
        return {b"batch_label": b"x", b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
                b"data": rng.integers(0, 256, (per_batch, c10.IMAGE_BYTES), dtype=np.uint8),
                b"filenames": [f"img_{name}_{i}.png".encode() for i in range(per_batch)]}
    folder = _cifar_batches(root / c10.PYTHON_FOLDER, 2, batch, lambda b: pickle.dumps(b, protocol=2), edit=edit)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [n.encode() for n in c10.CLASS_NAMES]}))
    return root


def tar_archive(path, members, top="top"):
    """A .tar.gz holding ``top/ok.txt`` and ``members``: (name, kind[, data or link target])."""
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(f"{top}/ok.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"ok"))
        for name, kind, *extra in members:
            info = tarfile.TarInfo(name)
            info.type = {"file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "chardev": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            if kind == "file":
                data = extra[0] if extra else b"evil"
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.linkname = extra[0] if extra else ""
                tar.addfile(info)
    return path


def zip_archive(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("top/ok.txt", "ok")
        for name, mode, data in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def corrupt_middle(path, skip=64):
    """Overwrite bytes in the middle of a file's compressed stream (the header stays valid)."""
    raw = bytearray(path.read_bytes())
    middle = max(skip, len(raw) // 2)
    raw[middle:middle + 16] = bytes(255 - b for b in raw[middle:middle + 16])
    path.write_bytes(bytes(raw))
    return path


def noise_bytes(size, seed=3):
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


# ---------------------------------------------------------------------------------------------
# The cases: name -> build(folder) returning (callable(argv), argv, fragments the line must hold)

CASES = {}


def case(name):
    def register(build):
        assert name not in CASES
        CASES[name] = build
        return build
    return register


def mnist_run(data, out, *flags):
    return (recipe("mnist_cnn").main,
            ["--dataset", "idx", "--data-dir", str(data), "--output-dir", str(out), "--steps", "1",
             "--no-progress", *flags])


def cifar_run(data, out, *flags):
    return (recipe("cifar10_cnn").main,
            ["--dataset", "cifar10", "--data-dir", str(data), "--output-dir", str(out), "--steps", "1",
             "--batch-size", "8", "--no-progress", *flags])


def prepare_run(data, out):
    return (recipe("retrain_inception").main,
            ["prepare", "--dataset", "cifar10", "--data-dir", str(data), "--output-dir", str(out), "--no-progress"])


# --- flags: refused while parsing, whatever the recipe

for _flag, _value, _recipe in (("--seed", "-1", "mnist_cnn"), ("--learning-rate", "nan", "mnist_cnn"),
                               ("--learning-rate", "inf", "mnist_cnn"), ("--checkpoint-every", "-3", "mnist_cnn"),
                               ("--steps", "-5", "mnist_cnn"), ("--momentum", "nan", "mnist_cnn"),
                               ("--learning-rate", "-inf", "cifar10_cnn"), ("--batch-size", "0", "cifar10_cnn"),
                               ("--seed", "99999999999", "cifar10_cnn"), ("--style-weight", "nan", "stylenet"),
                               ("--max-size", "0", "stylenet"), ("--step-size", "inf", "deepdream"),
                               ("--train-fraction", "1.5", "mnist_ensemble"), ("--noise-limit", "nan",
                                                                               "adversarial_noise"),
                               ("--required-score", "2", "adversarial_image"), ("--channel", "-1",
                                                                                "visualize_filters")):
    def _build(tmp, flag=_flag, value=_value, name=_recipe):
        return recipe(name).main, [f"{flag}={value}", "--output-dir", str(tmp / "out")], (flag, value)
    case(f"flag {_recipe} {_flag} {_value}")(_build)


@case("flag retrain --testing-percentage 100")
def _(tmp):
    return recipe("retrain_inception").main, ["retrain", "--testing-percentage", "100"], ("--testing-percentage",)


@case("flag retrain --validation-batch-size 0")
def _(tmp):
    return recipe("retrain_inception").main, ["retrain", "--validation-batch-size", "0"], ("--validation-batch-size",)


@case("flag --batch-size larger than the 200 training images")
def _(tmp):
    data = mnist_folder(tmp / "d", train=220, test=20)
    return (*mnist_run(data, tmp / "out", "--batch-size", "100000", "--validation-size", "20"),
            ("batch size 100000", "200 examples", str(data), "(set with --batch-size)"))


@case("flag --validation-size leaves no training image")
def _(tmp):
    data = mnist_folder(tmp / "d", train=30)
    return (*mnist_run(data, tmp / "out", "--validation-size", "30"),
            ("validation set of 30", "train-images-idx3-ubyte.gz", "(set with --validation-size)"))


# --- MNIST idx files

@case("idx train labels of 200")
def _(tmp):
    data = mnist_folder(tmp / "d", train_labels=idx_bytes(np.full(60, 200), compress=True))
    return (*mnist_run(data, tmp / "out"), ("train-labels-idx1-ubyte.gz", "200"))


@case("idx test labels of 200 (a few)")
def _(tmp):
    labels = np.zeros(20, np.uint8)
    labels[[3, 17]] = 200
    data = mnist_folder(tmp / "d", test_labels=idx_bytes(labels))
    return (*mnist_run(data, tmp / "out"), ("t10k-labels-idx1-ubyte.gz", "2 label(s)"))


@case("idx header 2^31 x 2^31 x 4 without payload")
def _(tmp):
    header = struct.pack(">I", 0x0803) + struct.pack(">3I", 2 ** 31, 2 ** 31, 4)
    data = mnist_folder(tmp / "d", train_images=header)
    return (*mnist_run(data, tmp / "out"), ("train-images-idx3-ubyte.gz", str(2 ** 64)))


@case("idx empty test split")
def _(tmp):
    data = mnist_folder(tmp / "d", test_images=idx_bytes(np.zeros((0, 28, 28))),
                        test_labels=idx_bytes(np.zeros(0)))
    return (*mnist_run(data, tmp / "out"), ("t10k-images-idx3-ubyte.gz", "no images"))


@case("idx three of the four files missing")
def _(tmp):
    data = mnist_folder(tmp / "d", train_labels=None, test_images=None, test_labels=None)
    return (*mnist_run(data, tmp / "out"),
            ("3 of the 4", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))


@case("idx corrupt deflate stream in a .gz")
def _(tmp):
    rng = np.random.default_rng(5)
    raw = idx_bytes(rng.integers(0, 256, (60, 28, 28)), compress=True)
    data = mnist_folder(tmp / "d", train_images=raw)
    corrupt_middle(data / "train-images-idx3-ubyte.gz")
    return (*mnist_run(data, tmp / "out"), ("train-images-idx3-ubyte.gz", "damaged gzip"))


@case("idx .gz that inflates far beyond its header (bomb)")
def _(tmp):
    header = struct.pack(">I", 0x0803) + struct.pack(">3I", 60, 28, 28)
    data = mnist_folder(tmp / "d", train_images=gzip.compress(header + bytes(20 << 20), compresslevel=1))
    return (*mnist_run(data, tmp / "out"), ("train-images-idx3-ubyte.gz", "more than 47040"))


@case("idx truncated payload")
def _(tmp):
    data = mnist_folder(tmp / "d", test_images=idx_bytes(np.zeros((20, 28, 28)))[:-100])
    return (*mnist_run(data, tmp / "out"), ("t10k-images-idx3-ubyte.gz", "truncated"))


@case("idx images and labels swapped")
def _(tmp):
    data = mnist_folder(tmp / "d", train_images=idx_bytes(np.zeros(60)))
    return (*mnist_run(data, tmp / "out"), ("train-images-idx3-ubyte.gz", "swapped"))


@case("idx image and label counts differ")
def _(tmp):
    data = mnist_folder(tmp / "d", test_labels=idx_bytes(np.zeros(19)))
    return (*mnist_run(data, tmp / "out"), ("t10k-images-idx3-ubyte.gz", "19 labels"))


@case("idx images not 28x28")
def _(tmp):
    data = mnist_folder(tmp / "d", test_images=idx_bytes(np.zeros((20, 32, 32))))
    return (*mnist_run(data, tmp / "out"), ("t10k-images-idx3-ubyte.gz", "not 28x28"))


# --- CIFAR-10 binary batches

def _labels_of_200(records):
    records[[2, 7], 0] = 200  # in place: the batch keeps its size


# one damaged batch each: (what is wrong, which batch, records -> other bytes or None, what the error names)
for _what, _batch, _damage, _fragments in (
        ("a few training labels of 200", "data_batch_3", _labels_of_200, ("data_batch_3.bin", "2 label(s)")),
        ("3073 records of 3074 bytes", "data_batch_1", lambda records: noise_bytes(3073 * 3074),
         ("data_batch_1.bin", "outside 0..9")),
        ("truncated test batch", "test_batch", lambda records: records.tobytes()[:-10],
         ("test_batch.bin", "3073-byte"))):
    def _build(tmp, batch=_batch, damage=_damage, fragments=_fragments):
        data = cifar_binary_folder(tmp / "d", edit=lambda name, records: damage(records) if name == batch else None)
        return (*cifar_run(data, tmp / "out"), fragments)
    case(f"cifar binary: {_what}")(_build)


@case("cifar binary: training batches missing")
def _(tmp):
    data = cifar_binary_folder(tmp / "d")
    for name in ("data_batch_2.bin", "data_batch_4.bin"):
        (data / c10.BINARY_FOLDER / name).unlink()
    return (*cifar_run(data, tmp / "out"), (c10.BINARY_FOLDER, "data_batch_2.bin, data_batch_4.bin"))


@case("cifar binary: partial folder next to an archive")
def _(tmp):
    data = cifar_binary_folder(tmp / "d")
    (data / c10.BINARY_FOLDER / "test_batch.bin").unlink()
    tar_archive(data / "cifar-10-binary.tar.gz", [])
    return (*cifar_run(data, tmp / "out"), (c10.BINARY_FOLDER, "test_batch.bin", "cifar-10-binary.tar.gz"))


@case("cifar binary: corrupt archive")
def _(tmp):
    (tmp / "d").mkdir()
    corrupt_middle(tar_archive(tmp / "d" / "cifar-10-binary.tar.gz", [("top/big", "file", noise_bytes(60000))]))
    return (*cifar_run(tmp / "d", tmp / "out"), ("cifar-10-binary.tar.gz",))


# --- CIFAR-10 python batches (retrain_inception.py prepare)

@case("cifar python: labels of 200")
def _(tmp):
    def edit(name, batch):
        if name == "data_batch_2":
            batch[b"labels"][1] = 200
    return (*prepare_run(cifar_python_folder(tmp / "d", edit=edit), tmp / "out"), ("data_batch_2", "200"))


@case("cifar python: file name with a NUL byte")
def _(tmp):
    def edit(name, batch):
        if name == "test_batch":
            batch[b"filenames"][0] = b"evil\x00.png"
    return (*prepare_run(cifar_python_folder(tmp / "d", edit=edit), tmp / "out"), ("test_batch", "NUL"))


@case("cifar python: file name of 300 characters")
def _(tmp):
    def edit(name, batch):
        if name == "data_batch_1":
            batch[b"filenames"][2] = b"x" * 300 + b".png"
    return (*prepare_run(cifar_python_folder(tmp / "d", edit=edit), tmp / "out"), ("data_batch_1", "longer than"))


class _Exploit:
    def __reduce__(self):
        import os
        return (os.system, ("touch pwned",))


@case("cifar python: pickle that runs code")
def _(tmp):
    def edit(name, batch):
        if name == "data_batch_4":
            return pickle.dumps({b"data": _Exploit()}, protocol=2)
    return (*prepare_run(cifar_python_folder(tmp / "d", edit=edit), tmp / "out"), ("data_batch_4", "refusing"))


@case("cifar python: pickle of something else")
def _(tmp):
    def edit(name, batch):
        if name == "data_batch_5":
            return pickle.dumps([1, 2, 3], protocol=2)
    return (*prepare_run(cifar_python_folder(tmp / "d", edit=edit), tmp / "out"), ("data_batch_5", "list"))


# --- archives (the extraction every download goes through)

for _name, _members in (("'..' member", [("top/../../evil.txt", "file")]),
                        ("absolute member", [("/tmp/evil.txt", "file")]),
                        ("symlink member", [("top/link", "symlink", "/etc/passwd")]),
                        ("hard link member", [("top/hard", "hardlink", "top/ok.txt")]),
                        ("character device member", [("top/dev", "chardev")]),
                        ("fifo member", [("top/fifo", "fifo")])):
    def _build(tmp, members=_members):
        archive = tar_archive(tmp / "a.tar.gz", members)
        return loader(extract_archive, archive, tmp / "out"), None, ("a.tar.gz", members[0][0])
    case(f"tar {_name}")(_build)


@case("zip '..' member")
def _(tmp):
    archive = zip_archive(tmp / "inception5h.zip", [("../evil.txt", 0o100644, "evil")])
    return loader(extract_archive, archive, tmp / "out"), None, ("inception5h.zip", "../evil.txt")


@case("zip symlink member")
def _(tmp):
    archive = zip_archive(tmp / "inception5h.zip", [("top/link", 0o120777, "/etc/passwd")])
    return loader(extract_archive, archive, tmp / "out"), None, ("inception5h.zip", "top/link")


@case("zip corrupt deflate stream")
def _(tmp):
    archive = corrupt_middle(zip_archive(tmp / "inception5h.zip", [("top/g.pb", 0o100644, noise_bytes(20000) * 3)]))
    return loader(extract_archive, archive, tmp / "out"), None, ("inception5h.zip", "not a readable archive")


@case("tar.gz corrupt deflate stream")
def _(tmp):
    archive = corrupt_middle(tar_archive(tmp / "a.tgz", [("top/big", "file", noise_bytes(60000))]))
    return loader(extract_archive, archive, tmp / "out"), None, ("a.tgz", "not a readable archive")


@case("tar.gz truncated")
def _(tmp):
    archive = tar_archive(tmp / "a.tgz", [("top/big", "file", noise_bytes(60000))])
    archive.write_bytes(archive.read_bytes()[:30000])
    return loader(extract_archive, archive, tmp / "out"), None, ("a.tgz", "not a readable archive")


# --- downloads, against a server on 127.0.0.1 in this process (CNN_COOKBOOK_MIRROR puts it first)

PAYLOAD = noise_bytes(50000, seed=9)


class _Server:
    """Serves /<behaviour>/<file name>: good, wrong, truncated, hang, trickle, endless, missing."""

    def __init__(self):
        import http.server
        import threading

        release = self.release = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                import time

                behaviour = self.path.strip("/").split("/")[0]
                if behaviour == "hang":
                    release.wait(20)
                    return
                if behaviour == "missing":
                    self.send_error(404)
                    return
                body = PAYLOAD[::-1] if behaviour == "wrong" else PAYLOAD
                self.send_response(200)
                if behaviour != "endless":
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if behaviour == "truncated":
                        self.wfile.write(body[:len(body) // 3])
                    elif behaviour == "trickle":
                        for byte in body[:100]:
                            if release.is_set():
                                break
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.1)
                    elif behaviour == "endless":
                        while not release.is_set():
                            self.wfile.write(bytes(1 << 16))
                    else:
                        self.wfile.write(body)
                except OSError:
                    pass  # the client gave up: that is the point of these behaviours

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


_SERVER = []


def server():
    if not _SERVER:
        _SERVER.append(_Server())
    return _SERVER[0]


@pytest.fixture(scope="module", autouse=True)
def _stop_server():
    yield
    if _SERVER:
        _SERVER.pop().close()


def closed_port_url():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def download_run(tmp, *behaviours, deadline=1.5):
    """fetch() of file.bin with the user's mirrors ``behaviours`` first, then a refused URL."""
    import os

    from cnn_cookbook.io import downloads

    remote = downloads.RemoteFile("file.bin", (closed_port_url() + "/file.bin",),
                                 sha256=hashlib.sha256(PAYLOAD).hexdigest(), size=len(PAYLOAD))

    def run():
        saved = os.environ.get(downloads.MIRROR_ENV), downloads.TIMEOUT_SECONDS
        os.environ[downloads.MIRROR_ENV] = " ".join(f"{server().url}/{b}" for b in behaviours)
        downloads.TIMEOUT_SECONDS = 0.5
        try:
            return downloads.fetch(remote, tmp / "data", download=True, progressbar=False, deadline=deadline)
        finally:
            if saved[0] is None:
                del os.environ[downloads.MIRROR_ENV]
            else:
                os.environ[downloads.MIRROR_ENV] = saved[0]
            downloads.TIMEOUT_SECONDS = saved[1]
    return cli.main_wrapper(lambda argv: run()), None


for _behaviours, _fragments in ((("wrong",), ("file.bin", "checksum mismatch", "does not match")),
                                (("wrong", "wrong"), ("file.bin", "does not match")),
                                (("truncated",), ("file.bin", "closed after 16666 of 50000 bytes"))
                                , (("hang",), ("file.bin", "no data for 0.5 s")),
                                (("trickle",), ("file.bin", "not finished after 2 s")),
                                (("endless",), ("file.bin", "more than the 50000 bytes")),
                                (("missing",), ("file.bin", "HTTP 404")), ((), ("file.bin", "refused"))):
    def _build(tmp, behaviours=_behaviours, fragments=_fragments):
        return (*download_run(tmp, *behaviours), fragments)
    case(f"download: {' then '.join(_behaviours) or 'refused connection'}")(_build)


@case("download: a hand-placed archive that is not the published one")
def _(tmp):
    (tmp / "d").mkdir()
    archive = tar_archive(tmp / "d" / "cifar-10-binary.tar.gz", [])
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    return (*cifar_run(tmp / "d", tmp / "out"), ("cifar-10-binary.tar.gz", "expected sha256 c4a38c50", actual,
                                                  "--accept-checksum-mismatch"))


@case("download: hand-placed MNIST files that are not the published ones")
def _(tmp):
    data = mnist_folder(tmp / "d")
    main, argv = mnist_run(data, tmp / "out")
    argv[argv.index("idx")] = "mnist"
    return main, argv, ("train-images-idx3-ubyte.gz", "expected sha256 440fcabf")


# --- images (the one reader, cnn_cookbook.io.images.read_image)

def png_header(path, width, height, colour_type=0):
    """A PNG whose header claims ``width`` x ``height`` (grey by default) with a token of data:
    what a decompression bomb looks like before it is inflated."""
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(64)))
                     + chunk(b"IEND", b""))
    return path


def save_pil(path, array, mode=None, **kwargs):
    from PIL import Image

    Image.fromarray(np.asarray(array), mode).save(path, **kwargs)
    return path


def stylenet_run(tmp, content="astronaut", style="immunohistochemistry"):
    return (recipe("stylenet").main,
            ["--content", str(content), "--style", str(style), "--output-dir", str(tmp / "out"), "--steps", "1"])


def classify_run(tmp, image):
    return (recipe("retrain_inception").main,
            ["classify", str(image), "--model", "stand-in", "--models-dir", str(tmp / "models"), "--device", "cpu"])


@case("image: 12000x12000 grey PNG as StyleNet content")
def _(tmp):
    image = png_header(tmp / "huge.png", 12000, 12000)
    return (*stylenet_run(tmp, content=image), ("huge.png", "12000x12000", "--max-pixels"))


@case("image: PNG header claiming 20000x20000 to classify")
def _(tmp):
    image = png_header(tmp / "bomb.png", 20000, 20000, colour_type=2)
    return (*classify_run(tmp, image), ("bomb.png", "--max-pixels"))


@case("image: 1x1 StyleNet content")
def _(tmp):
    image = save_pil(tmp / "dot.png", np.zeros((1, 1, 3), np.uint8))
    return (*stylenet_run(tmp, content=image), ("dot.png", "1x1", "at least 16x16"))


@case("image: truncated JPEG to classify")
def _(tmp):
    image = save_pil(tmp / "cut.jpg", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8),
                     quality=90)
    image.write_bytes(image.read_bytes()[:800])
    return (*classify_run(tmp, image), ("cut.jpg", "cannot read image"))


@case("image: empty file as StyleNet style")
def _(tmp):
    (tmp / "empty.png").write_bytes(b"")
    return (*stylenet_run(tmp, style=tmp / "empty.png"), ("empty.png", "cannot read image"))


@case("image: text file as StyleNet content")
def _(tmp):
    (tmp / "notes.jpg").write_text("not an image")
    return (*stylenet_run(tmp, content=tmp / "notes.jpg"), ("notes.jpg", "cannot read image"))


@case("image: missing StyleNet content")
def _(tmp):
    return (*stylenet_run(tmp, content=tmp / "absent.png"), ("absent.png", "does not exist"))


# --- frozen graphs (GraphDefs that parse but do not import)

def graph_file(path, broken):
    """A GraphDef with an 'input' placeholder and one bad node: an unknown op or a dangling input."""
    from cnn_cookbook.tf1 import tf

    graph_def = tf.GraphDef()
    node = graph_def.node.add(name="input", op="Placeholder")
    node.attr["dtype"].type = tf.float32.as_datatype_enum
    node = graph_def.node.add(name="mixed4d", op="NoSuchOp2026" if broken == "op" else "Relu")
    node.input.append("input" if broken == "op" else "conv_that_was_cut:0")
    node.attr["T"].type = tf.float32.as_datatype_enum
    path.write_bytes(graph_def.SerializeToString())
    return path


for _broken, _fragment in (("op", "NoSuchOp2026"), ("input", "conv_that_was_cut")):
    def _deepdream(tmp, broken=_broken, fragment=_fragment):
        graph = graph_file(tmp / "dream.pb", broken)
        return (recipe("deepdream").main, ["--graph", str(graph), "--output-dir", str(tmp / "out")],
                ("dream.pb", fragment))

    def _classify(tmp, broken=_broken, fragment=_fragment):
        image = save_pil(tmp / "ok.png", np.zeros((8, 8, 3), np.uint8))
        graph = graph_file(tmp / "v3.pb", broken)
        main, argv = classify_run(tmp, image)
        return main, argv + ["--graph", str(graph)], ("v3.pb", fragment)
    case(f"graph: {'unknown op' if _broken == 'op' else 'dangling input'} to deepdream")(_deepdream)
    case(f"graph: {'unknown op' if _broken == 'op' else 'dangling input'} to classify")(_classify)


@case("graph: a text file given as the DeepDream graph")
def _(tmp):
    (tmp / "graph.pb").write_text("<html>404 not found</html>")
    return recipe("deepdream").main, ["--graph", str(tmp / "graph.pb")], ("graph.pb", "not a frozen")


# ---------------------------------------------------------------------------------------------
# Running a case


def _snapshot(root):
    return {p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_clear_line_and_changes_nothing(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a stray relative write (or an exploit's "touch") would land here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    folder = tmp_path / "case"
    folder.mkdir()
    main, argv, fragments = CASES[name](folder)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, (status, out, err)
    assert "Traceback" not in out + err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    after = _snapshot(tmp_path)
    assert after == before, f"files changed: {set(after.items()) ^ set(before.items())}"


# ---------------------------------------------------------------------------------------------
# Inputs that must work


@pytest.mark.parametrize("native", [True, False], ids=["tarfile data filter", "same rules written out"])
def test_tar_extraction_drops_special_bits_and_the_archives_owner(tmp_path, monkeypatch, native):
    import os

    from cnn_cookbook.io import downloads

    if native and not downloads.HAS_DATA_FILTER:
        pytest.skip("this Python's tarfile has no extraction filters")
    monkeypatch.setattr(downloads, "HAS_DATA_FILTER", native)
    # mode in the archive -> the mode PEP 706's "data" filter gives it
    modes = {"setuid": (0o4755, 0o755), "setgid_world_write": (0o6777, 0o755), "world_write": (0o666, 0o644),
             "no_bits": (0o000, 0o600), "owner_only": (0o700, 0o700), "group_x_only": (0o2750, 0o750),
             "sticky": (0o1644, 0o644)}
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("top")
        info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o7777, 1234, 1234
        tar.addfile(info)
        for name, (mode, _) in modes.items():
            info = tarfile.TarInfo(f"top/{name}")
            info.size, info.mode, info.uid, info.gid, info.uname = 1, mode, 1234, 1234, "nobody-here"
            tar.addfile(info, io.BytesIO(b"x"))
    target = extract_archive(archive, tmp_path / "out")
    for name, (_, expected) in modes.items():
        stat = (target / "top" / name).stat()
        assert oct(stat.st_mode & 0o7777) == oct(expected), name
        assert (stat.st_uid, stat.st_gid) == (os.getuid(), os.getgid()), name
    folder = (target / "top").stat()
    assert not folder.st_mode & 0o7022 and folder.st_uid == os.getuid()


def test_stale_scratch_folder_does_not_spoil_a_good_archive(tmp_path, monkeypatch):
    from cnn_cookbook.io import downloads

    data = cifar_binary_folder(tmp_path / "src")
    (tmp_path / "d").mkdir()
    archive = tmp_path / "d" / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(data / c10.BINARY_FOLDER, arcname=c10.BINARY_FOLDER)
    stale = tmp_path / "d" / f".{c10.BINARY_FOLDER}.extracted" / c10.BINARY_FOLDER
    stale.mkdir(parents=True)
    (stale / "data_batch_1.bin").write_bytes(b"half")  # left by an interrupted run
    # this archive stands in for the published one: its hash is the expected one here
    monkeypatch.setitem(downloads.REMOTE_FILES, "cifar10/binary", downloads.RemoteFile(
        archive.name, ("http://127.0.0.1:9/none",), sha256=downloads.file_sha256(archive)))
    folder, name = c10.find_cifar10("cifar10", tmp_path / "d", announce=None)
    assert name == "cifar10" and folder == tmp_path / "d" / c10.BINARY_FOLDER
    assert c10.read_binary_split(folder, "test")[1].shape == (10,)
    assert not (tmp_path / "d" / f".{c10.BINARY_FOLDER}.extracted").exists()


def test_cifar_files_are_found_in_the_cifar10_subfolder_data_readme_names(tmp_path):
    cifar_binary_folder(tmp_path / "data" / "cifar10")
    folder, name = c10.find_cifar10("cifar10", tmp_path / "data", announce=None)
    assert folder == tmp_path / "data" / "cifar10" / c10.BINARY_FOLDER and name == "cifar10"


@pytest.mark.parametrize("style", ["gz", "raw", "dotted", "dotted-gz"])
def test_both_mnist_file_name_styles_gzipped_or_not(tmp_path, style):
    from cnn_cookbook.datasets.mnist import load_mnist

    data = load_mnist("idx", mnist_folder(tmp_path, train=40, test=7, names=style))
    assert (len(data.train), len(data.validation), len(data.test)) == (36, 4, 7)


def test_a_small_own_mnist_set_trains_and_is_evaluated_on_its_whole_test_split(tmp_path, capsys):
    import json

    from cnn_cookbook.datasets.mnist import default_validation_size

    data = mnist_folder(tmp_path / "own", train=300, test=111, names="dotted")
    recipe("mnist_cnn").main(["--dataset", "idx", "--data-dir", str(data), "--output-dir", str(tmp_path / "out"),
                              "--steps", "3", "--model", "linear", "--no-progress"])
    printed = capsys.readouterr().out
    held_out = default_validation_size(300)
    assert held_out == 30 and f"{300 - held_out} train, {held_out} validation, 111 test" in printed
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["test_examples"] == 111 and metrics["dataset"] == f"idx:{data}"
    recipe("mnist_cnn").main(["--dataset", "idx", "--data-dir", str(data), "--output-dir", str(tmp_path / "out2"),
                              "--steps", "1", "--model", "linear", "--no-progress", "--validation-size", "100"])
    assert "200 train, 100 validation" in capsys.readouterr().out


def test_the_next_mirror_is_tried_after_a_checksum_mismatch(tmp_path, monkeypatch):
    from cnn_cookbook.io import downloads

    remote = downloads.RemoteFile("file.bin", (f"{server().url}/good/file.bin",),
                                 sha256=hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setenv(downloads.MIRROR_ENV, f"{server().url}/wrong")  # the user's own mirror, first
    assert downloads.mirror_urls(remote)[0] == f"{server().url}/wrong/file.bin"
    path = downloads.fetch(remote, tmp_path, download=True, progressbar=False, deadline=5)
    assert path.read_bytes() == PAYLOAD and sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_an_offline_cache_serves_as_mirror(tmp_path, monkeypatch):
    from cnn_cookbook.io import downloads

    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "file.bin").write_bytes(PAYLOAD)
    remote = downloads.RemoteFile("file.bin", (closed_port_url() + "/file.bin",),
                                 sha256=hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setenv(downloads.MIRROR_ENV, (tmp_path / "cache").as_uri())
    assert downloads.fetch(remote, tmp_path / "data", download=True, progressbar=False).read_bytes() == PAYLOAD


def test_sigterm_during_a_download_leaves_no_temp_file(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    data = tmp_path / "data"
    script = ("import sys; from cnn_cookbook import cli; from cnn_cookbook.io import downloads\n"
              "remote = downloads.RemoteFile('file.bin', (sys.argv[1],))\n"
              "cli.main_wrapper(lambda argv: downloads.fetch(remote, sys.argv[2], download=True, "
              "progressbar=False, deadline=60))()\n")
    proc = subprocess.Popen([sys.executable, "-c", script, f"{server().url}/trickle/file.bin", str(data)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        began = time.monotonic()
        while not (data.is_dir() and any(data.iterdir())) and time.monotonic() - began < 30:
            time.sleep(0.05)
        assert any(p.name.endswith(".part") for p in data.iterdir())  # the download is under way
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert list(data.iterdir()) == []


def test_sigterm_during_an_extraction_removes_the_staging_folder(tmp_path, monkeypatch):
    import os
    import signal

    from cnn_cookbook.io import downloads

    archive = tar_archive(tmp_path / "a.tar.gz", [("top/big", "file", noise_bytes(1000))])

    def killed(*args, **kwargs):  # the process is told to stop half-way through the members
        os.kill(os.getpid(), signal.SIGTERM)
    monkeypatch.setattr(downloads, "_extract_by_data_rules", killed)
    monkeypatch.setattr(downloads, "HAS_DATA_FILTER", False)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        extract_archive(archive, tmp_path / "out" / "target")
    assert list((tmp_path / "out").iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_a_knowingly_different_file_is_used_and_recorded(tmp_path, capsys):
    import json

    data = mnist_folder(tmp_path / "d")
    main, argv = mnist_run(data, tmp_path / "out", "--model", "linear", "--batch-size", "10", "--accept-checksum-mismatch")
    argv[argv.index("idx")] = "mnist"
    main(argv)
    accepted = json.loads((tmp_path / "out" / "metrics.json").read_text())["checksum_mismatch_accepted"]
    assert sorted(Path(a["file"]).name for a in accepted) == sorted(
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz"])
    assert all(a["expected"] != a["actual"] for a in accepted)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "PA-transparency", "RGBA", "CMYK", "I;16", "1"])
def test_every_image_mode_is_read_as_rgb_and_as_grey(tmp_path, mode):
    from PIL import Image

    from cnn_cookbook.io.images import read_image

    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[:3] = (200, 30, 60)  # a red band over black
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    if mode == "CMYK":
        path = tmp_path / "cmyk.jpg"
        Image.fromarray(rgb).convert("CMYK").save(path, quality=100)
        expected = rgb
    elif mode == "I;16":
        path = save_pil(tmp_path / "deep.png", grey.astype(np.uint16) * 257)  # 16-bit grey PNG
        expected = np.stack([grey] * 3, -1)
    elif mode == "1":
        path = tmp_path / "bits.png"
        Image.fromarray(grey > 50).save(path)
        expected = np.stack([np.where(grey > 50, 255, 0).astype(np.uint8)] * 3, -1)
    elif mode == "P" or mode == "PA-transparency":
        path = tmp_path / "palette.png"
        image = Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=4)
        image.save(path, **({"transparency": 0} if mode != "P" else {}))
        expected = rgb
    else:
        source = {"L": grey, "LA": np.stack([grey, np.full_like(grey, 90)], -1),
                  "RGBA": np.concatenate([rgb, np.full((6, 8, 1), 90, np.uint8)], -1)}[mode]
        path = save_pil(tmp_path / f"{mode}.png", source, mode)
        expected = rgb if mode == "RGBA" else np.stack([grey] * 3, -1)
    image, notes = read_image(path)
    assert image.shape == (6, 8, 3) and image.dtype == np.uint8
    tolerance = 6 if mode == "CMYK" else 0  # JPEG
    assert np.abs(image.astype(int) - expected).max() <= tolerance, (image[0, 0], expected[0, 0])
    assert ("alpha channel dropped" in notes) == (mode in ("LA", "RGBA", "PA-transparency"))
    grey_read, _ = read_image(path, "L")
    assert grey_read.shape == (6, 8)


def test_folder_data_sets_skip_and_list_oversized_and_broken_images(tmp_path):
    from cnn_cookbook.bottlenecks import _decode_chunk

    good = save_pil(tmp_path / "good.png", np.zeros((4, 4, 3), np.uint8))
    bomb = png_header(tmp_path / "bomb.png", 20000, 20000)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff broken")
    images, targets, unreadable = _decode_chunk([(p, None) for p in (good, bomb, broken)])
    assert [t[0] for t in targets] == [good] and unreadable == [bomb, broken] and images[0].shape == (4, 4, 3)


def test_max_pixels_raises_the_limit(tmp_path, monkeypatch):
    from cnn_cookbook.io import images

    path = save_pil(tmp_path / "wide.png", np.zeros((10, 40, 3), np.uint8))
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(images.ImageTooLarge, match="wide.png is 40x10"):
        images.read_image(path)
    assert images.read_image(path, max_pixels=400)[0].shape == (10, 40, 3)
    parser = cli.parser("test")
    assert parser.parse_args(["--max-pixels", "400"]).max_pixels == 400 and images.MAX_PIXELS == 400


def test_the_errors_guide_states_the_number_of_cases():
    text = (REPO / "docs" / "errors.md").read_text()
    assert f"`tests/test_bad_input.py` is the battery: {len(CASES)} bad inputs" in text


def test_stylenet_runs_on_a_grey_alpha_content_and_a_cmyk_style(tmp_path, capsys):
    import json
    import sys

    from PIL import Image

    sys.path.insert(0, str(REPO / "tests"))
    from test_stylenet import random_vgg19_weights, write_vgg19_mat

    vgg = write_vgg19_mat(tmp_path / "vgg.mat", random_vgg19_weights())
    ramp = np.tile(np.linspace(0, 255, 24, dtype=np.uint8), (20, 1))
    content = save_pil(tmp_path / "la.png", np.stack([ramp, np.full_like(ramp, 128)], -1), "LA")
    style = tmp_path / "cmyk.jpg"
    Image.fromarray(np.stack([ramp, ramp[::-1], np.full_like(ramp, 90)], -1)).convert("CMYK").save(style)
    recipe("stylenet").main(["--vgg", str(vgg), "--content", str(content), "--style", str(style), "--steps", "2",
                             "--output-dir", str(tmp_path / "out"), "--device", "cpu"])
    printed = capsys.readouterr().out
    assert "alpha channel dropped" in printed and "CMYK converted to RGB" in printed
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["image_size"] == [20, 24] and metrics["steps"] == 2 and metrics["final_loss"] is not None
