"""One mechanism for every external file: find it locally or download it, verified.

Downloads are streamed by the standard library: a progress bar, an overall deadline and a size
cap per file, a temp file moved into place only after the hash matched, the next mirror tried
after any failure, and a user's own mirrors first (:data:`MIRROR_ENV`).  Every file the recipes
use is listed in :data:`REMOTE_FILES` with its mirrors and published hash.  Where no hash has
been published, the first download records its SHA-256 beside the file (``<name>.sha256``, trust
on first use) and later downloads must match it.  A file placed by hand is checked against the
published hash before its first use.

Archives are unpacked by :func:`extract_archive` under the rules of tarfile's "data" filter
(PEP 706), into a temp folder that is renamed only when complete.
"""

import bz2
import contextlib
import gzip
import hashlib
import http.client
import lzma
import os
import shutil
import signal
import socket
import tarfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cnn_cookbook.errors import ChecksumError, CookbookError, DataFormatError, MissingFileError
from cnn_cookbook.fileio import atomic_dir, atomic_path, ensure_dir
from cnn_cookbook.progress import bar as progress_bar

#: seconds to wait for a connection or a stalled read; offline machines get an answer fast.
TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class RemoteFile:
    """An external file: its name on disk, where it can be fetched, and how to check it."""

    filename: str
    urls: tuple
    sha256: str = None
    md5: str = None
    size: int = None
    note: str = ""  # extra advice printed with the missing-file error

    @property
    def known_hash(self):
        if self.sha256:
            return f"sha256:{self.sha256}"
        if self.md5:
            return f"md5:{self.md5}"
        return None


def _mirrors(name, bases):
    return tuple(base + name for base in bases)


_MNIST_BASES = ("https://storage.googleapis.com/cvdf-datasets/mnist/",
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "http://yann.lecun.com/exdb/mnist/")
_FASHION_BASES = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                  "https://storage.googleapis.com/tensorflow/tf-keras-datasets/")
_VGG_TLS_NOTE = ("vlfeat.org's TLS certificate has expired in the past; if the download fails "
                 "for that reason, fetch the file with a browser and place it at the path above")


def _table():
    files = {}

    def add(key, remote):
        files[key] = remote

    # MNIST and Fashion-MNIST publish the same four file names; per set, each file's (size, SHA-256)
    idx_names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz")
    idx_sets = {
        "mnist": (_MNIST_BASES, [
            (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ]),
        "fashion": (_FASHION_BASES, [
            (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        ]),
    }
    for key, (bases, published) in idx_sets.items():
        for name, (size, sha) in zip(idx_names, published):
            add(f"{key}/{name}", RemoteFile(name, _mirrors(name, bases), sha256=sha, size=size))
    add("cifar10/binary", RemoteFile(
        "cifar-10-binary.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
        sha256="c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", size=170052171))
    add("cifar10/python", RemoteFile(
        "cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
        sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", size=170498071))
    add("inception5h", RemoteFile(
        "inception5h.zip",
        ("https://storage.googleapis.com/download.tensorflow.org/models/inception5h.zip",
         "http://download.tensorflow.org/models/inception5h.zip"),
        sha256="d13569f6a98159de37e92e9c8ec4dae8f674fbf475f69fe6199b514f756d4364", size=49937555))
    add("inception_v3", RemoteFile(
        "inception-2015-12-05.tgz",
        ("http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz",),
        size=88931400))
    add("vgg19", RemoteFile(
        "imagenet-vgg-verydeep-19.mat",
        ("https://www.vlfeat.org/matconvnet/models/imagenet-vgg-verydeep-19.mat",),
        sha256="abdb57167f82a2a1fbab1e1c16ad9373411883f262a1a37ee5db2e6fb0044695",
        size=534904783, note=_VGG_TLS_NOTE))
    add("vgg19_beta16", RemoteFile(
        "imagenet-vgg-verydeep-19.mat",
        ("http://www.vlfeat.org/matconvnet/models/beta16/imagenet-vgg-verydeep-19.mat",),
        md5="8ee3263992981a1d26e73b3ca028a123", note=_VGG_TLS_NOTE))
    add("vgg16_tfmodel", RemoteFile(
        "vgg16.tfmodel", ("https://s3.amazonaws.com/cadl/models/vgg16.tfmodel",)))
    add("knifey_spoony", RemoteFile(
        "knifey-spoony.tar.gz",
        ("https://github.com/Hvass-Labs/knifey-spoony/raw/master/knifey-spoony.tar.gz",)))
    return files


#: every external file the recipes know, by key ("mnist/<file>", "cifar10/binary", "vgg19", ...)
REMOTE_FILES = _table()


def remote_file(key):
    try:
        return REMOTE_FILES[key]
    except KeyError:
        raise CookbookError(f"unknown external file {key!r}; known: {', '.join(sorted(REMOTE_FILES))}") from None


#: environment variable with the user's own mirror(s): base URLs (``https://``, ``http://`` or
#: ``file://`` for an offline cache), separated by spaces or commas, tried before the published
#: ones; the file's own name is appended to each.
MIRROR_ENV = "CNN_COOKBOOK_MIRROR"
#: the slowest transfer rate a download may average before it is given up (bytes/s), which sets
#: each file's overall deadline from its size; a file of unknown size gets UNKNOWN_SIZE_DEADLINE
MIN_BYTES_PER_SECOND = 50_000
MIN_DEADLINE_SECONDS = 120
UNKNOWN_SIZE_DEADLINE = 3600
#: size cap for a file whose size has not been published (the largest such file is ~550 MB)
UNKNOWN_SIZE_CAP = 2 << 30

#: set by ``--accept-checksum-mismatch`` (see :func:`cnn_cookbook.cli.ArgumentParser`): a file
#: placed by hand whose hash differs from the published one is used, and listed in
#: :data:`ACCEPTED_MISMATCHES` (recipes record that list in metrics.json)
accept_checksum_mismatch = False
ACCEPTED_MISMATCHES = []


def mirror_urls(remote):
    """The URLs to try for ``remote``, in order: the user's mirrors (:data:`MIRROR_ENV`) first."""
    bases = os.environ.get(MIRROR_ENV, "").replace(",", " ").split()
    return tuple(f"{base.rstrip('/')}/{remote.filename}" for base in bases) + tuple(remote.urls)


def missing_file_message(remote, path, tried=()):
    lines = [f"{remote.filename} is not at {path}"]
    if tried:
        lines.append("download failed: " + "; ".join(f"{url} ({why})" for url, why in tried))
    else:
        lines.append("download it from " + " or ".join(mirror_urls(remote)))
    lines.append(f"or place the file by hand at {Path(path).resolve()}")
    if remote.note:
        lines.append(remote.note)
    return "; ".join(lines)


def file_sha256(path, chunk=1 << 20):
    return file_hash(path, "sha256", chunk)


def file_hash(path, algorithm, chunk=1 << 20):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _tofu_hash(path):
    stamp = Path(f"{path}.sha256")
    if stamp.is_file():
        return "sha256:" + stamp.read_text().split()[0]
    return None


class _Failed(Exception):
    """One mirror did not deliver a good file; ``checksum`` tells a wrong file from no file."""

    def __init__(self, reason, checksum=False):
        super().__init__(reason)
        self.checksum = checksum


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While downloading, SIGTERM raises KeyboardInterrupt as Ctrl-C does, so the temp file is
    removed on the way out instead of being left in the data folder by a killed process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _limits(remote, deadline, max_bytes):
    if deadline is None:
        deadline = (max(MIN_DEADLINE_SECONDS, remote.size / MIN_BYTES_PER_SECOND) if remote.size
                    else UNKNOWN_SIZE_DEADLINE)
    if max_bytes is None:
        max_bytes = remote.size or UNKNOWN_SIZE_CAP
    return deadline, max_bytes


def _download_one(url, tmp, known_hash, progressbar, deadline, max_bytes):
    """Stream ``url`` into ``tmp`` within ``deadline`` seconds and ``max_bytes``; check the hash.

    Each read returns as soon as any bytes arrive (``read1``), so a server that trickles a byte
    at a time is stopped by the overall deadline, not only one that stalls for TIMEOUT_SECONDS.
    """
    algorithm, expected = known_hash.split(":", 1) if known_hash else ("sha256", None)
    digest = hashlib.new(algorithm)
    started = time.monotonic()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            length = response.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            if length is not None and length > max_bytes:
                raise _Failed(f"the server announces {length} bytes, more than the {max_bytes} expected")
            # a bar on a terminal, plain lines in a log; built before the temp file exists, so an
            # interrupt that lands once the file is there never meets a half-built tqdm object
            with progress_bar(total=length, unit="B", desc=tmp.name, enabled=bool(progressbar)) as bar, \
                    open(tmp, "wb") as sink:
                while True:
                    if time.monotonic() - started > deadline:
                        raise _Failed(f"not finished after {deadline:.0f} s ({received} bytes received)")
                    block = response.read1(1 << 16)
                    if not block:
                        break
                    received += len(block)
                    if received > max_bytes:
                        raise _Failed(f"more than the {max_bytes} bytes expected")
                    digest.update(block)
                    sink.write(block)
                    bar.update(len(block))
    except _Failed:
        raise
    except urllib.error.HTTPError as exc:
        raise _Failed(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        raise _Failed(getattr(reason, "strerror", None) or str(reason)) from None
    except (socket.timeout, TimeoutError):
        raise _Failed(f"no data for {TIMEOUT_SECONDS} s") from None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise _Failed(getattr(exc, "strerror", None) or type(exc).__name__) from None
    if length is not None and received != length:
        raise _Failed(f"the connection closed after {received} of {length} bytes")
    actual = digest.hexdigest()
    if expected is not None and actual != expected:
        raise _Failed(f"checksum mismatch: {algorithm} {actual}, expected {expected}", checksum=True)
    return actual


def _verify_placed(remote, path):
    """Check a file that is already there (placed by hand) against the published hash, once.

    A match is remembered in ``.<name>.verified`` (size, modification time and hash), so the
    file is hashed again only when it changes.  Files without a published hash are used as they
    are.  A mismatch is a :class:`ChecksumError` naming both hashes, unless
    ``--accept-checksum-mismatch`` was given (then the file is used and listed in
    :data:`ACCEPTED_MISMATCHES`).
    """
    if not remote.known_hash:
        return
    algorithm, expected = remote.known_hash.split(":", 1)
    stat = path.stat()
    stamp = path.with_name(f".{path.name}.verified")
    seen = f"{stat.st_size} {stat.st_mtime_ns} {algorithm}:{expected}"
    if stamp.is_file() and stamp.read_text().strip() == seen:
        return
    actual = file_hash(path, algorithm)
    if actual == expected:
        try:
            stamp.write_text(seen + "\n")
        except OSError:
            pass  # a read-only data folder: the file is simply hashed again next time
        return
    if accept_checksum_mismatch:
        ACCEPTED_MISMATCHES.append({"file": str(path), "expected": f"{algorithm}:{expected}",
                                    "actual": f"{algorithm}:{actual}"})
        return
    raise ChecksumError(f"{path} does not match the published checksum of {remote.filename}: expected "
                        f"{algorithm} {expected}, got {actual}; delete it and download it again, or "
                        "accept the checksum mismatch to use this different file knowingly (it is "
                        "recorded in metrics.json)", field=("download", "accept_checksum_mismatch"))


def fetch(key, directory, download=False, progressbar=True, deadline=None, max_bytes=None):
    """Return the path of external file ``key`` in ``directory``, downloading it if asked.

    A file already there (users may place files by hand) is checked against the published hash
    before its first use (:func:`_verify_placed`).  Otherwise, with ``download`` false this
    raises :class:`MissingFileError` naming the exact path and the URLs; with ``download`` true
    each URL of :func:`mirror_urls` is tried in turn, the next one also after a checksum
    mismatch, each within an overall ``deadline`` (seconds; default from the file's size) and
    a size cap ``max_bytes`` (default: the published size).  The file is written to a temp file
    beside its place and moved there only when its hash matched (or, with no published hash,
    recorded as ``<name>.sha256``: trust on first use).
    """
    remote = remote_file(key) if isinstance(key, str) else key
    directory = Path(directory)
    path = directory / remote.filename
    if path.is_file():
        _verify_placed(remote, path)
        return path
    if not download:
        raise MissingFileError(missing_file_message(remote, path), field="download")
    ensure_dir(directory)
    known_hash = remote.known_hash or _tofu_hash(path)
    deadline, max_bytes = _limits(remote, deadline, max_bytes)
    tried, mismatched = [], False
    with _sigterm_as_interrupt():
        for url in mirror_urls(remote):
            try:
                with atomic_path(path) as tmp:
                    actual = _download_one(url, tmp, known_hash, progressbar, deadline, max_bytes)
            except _Failed as failure:
                tried.append((url, str(failure)))
                mismatched = mismatched or failure.checksum
                continue
            if known_hash is None:  # nothing published: remember what we got (trust on first use)
                Path(f"{path}.sha256").write_text(f"{actual}  {remote.filename}\n")
            return path
    if mismatched:
        raise ChecksumError(f"{remote.filename} does not match its published checksum "
                            f"({known_hash}) from any mirror; nothing was written: "
                            + "; ".join(f"{url} ({why})" for url, why in tried)
                            + f"; try again later or place a good copy at {path.resolve()}")
    raise MissingFileError(missing_file_message(remote, path, tried))


# ---------------------------------------------------------------------------------------------
# Archives


def _check_member_name(name, archive):
    normalised = name.replace("\\", "/")
    parts = PurePosixPath(normalised).parts
    # absolute, parent-relative or drive-letter ("C:") names could land outside the target
    if normalised.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise DataFormatError(f"{archive} has an unsafe member {name!r} (absolute path or '..'); "
                              "refusing to extract it: delete the archive and download it again")


def _safe_tar_members(tar, archive):
    for member in tar.getmembers():
        _check_member_name(member.name, archive)
        if not (member.isfile() or member.isdir()):
            raise DataFormatError(f"{archive} has a link or special file {member.name!r}; "
                                  "refusing to extract it: delete the archive and download it again")
        yield member


#: Pythons from 3.8.17 / 3.11.4 / 3.12 have PEP 706's extraction filters; 3.7 (the TF 1.15 stack)
#: does not, and gets the same "data" rules from :func:`_extract_by_data_rules`.
HAS_DATA_FILTER = hasattr(tarfile, "data_filter")


def data_rules_mode(member):
    """The permission bits PEP 706's "data" filter gives a member (None: the folder default).

    No setuid, setgid or sticky bit and no group/other write; a regular file stays readable and
    writable by its owner and executable only where the owner could execute it.
    """
    if member.isdir():
        return None
    mode = member.mode & 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return mode | 0o600


def _extract_by_data_rules(tar, members, staging):
    """Extract ``members`` (regular files and folders only, names already checked) as
    ``tarfile``'s "data" filter would: modes from :func:`data_rules_mode`, the archive's owner
    ignored (files belong to whoever runs this), nothing outside ``staging``."""
    root = os.path.realpath(staging)
    for member in members:
        target = os.path.realpath(os.path.join(root, member.name.lstrip("/" + os.sep)))
        if os.path.commonpath([root, target]) != root:
            raise DataFormatError(f"{tar.name} has a member {member.name!r} that would land outside "
                                  f"{staging}; refusing to extract it")
        if member.isdir():
            os.makedirs(target, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        source = tar.extractfile(member)
        with source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink)
        os.chmod(target, data_rules_mode(member))
        os.utime(target, (member.mtime, member.mtime))


def _extract_zip(archive, staging):
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            _check_member_name(info.filename, archive)
            mode = (info.external_attr >> 16) & 0o170000
            if mode and mode not in (0o100000, 0o040000):
                raise DataFormatError(f"{archive} has a link or special file {info.filename!r}; "
                                      "refusing to extract it")
        # zipfile never applies the archive's permission bits or owner: files come out with the
        # default mode and belong to the user running this, as the "data" rules want
        zf.extractall(staging)


def _read_to_the_end(archive):
    """Decompress a .gz/.bz2/.xz file to its end and throw the bytes away.

    tarfile stops reading once it has the members it needs, so the stream's checksum (at its
    very end) would never be checked and a corrupted member could be extracted silently.
    """
    with open(archive, "rb") as handle:
        magic = handle.read(6)
    opener = (gzip.open if magic[:2] == b"\x1f\x8b" else bz2.open if magic[:3] == b"BZh"
              else lzma.open if magic == b"\xfd7zXZ\x00" else None)
    if opener is None:
        return
    with opener(archive, "rb") as stream:
        while stream.read(1 << 22):
            pass


def extract_archive(archive, destination):
    """Unpack a .tar(.gz)/.tgz/.zip into ``destination`` once; returns ``destination``.

    Members are extracted under the rules of ``tarfile``'s "data" filter (PEP 706) on every
    Python: no absolute or ``..`` names, no links or device files (stricter than the filter,
    which allows links inside the target), no setuid/setgid/sticky bits or group/other write,
    and the files belong to the user running this, not to the archive's uid/gid.  Unpacking
    happens in a temp folder beside ``destination`` which then takes its place, so an
    interrupted run (Ctrl-C or SIGTERM) leaves either nothing or the whole tree.  A finished extraction is not
    repeated (the tutorials re-extract on every run).  A damaged archive (bad header, corrupt
    compressed data, a CRC mismatch) is one :class:`DataFormatError`.
    """
    archive, destination = Path(archive), Path(destination)
    if destination.is_dir() and any(destination.iterdir()):
        return destination
    with _sigterm_as_interrupt(), atomic_dir(destination) as staging:
        try:
            if zipfile.is_zipfile(archive):
                _extract_zip(archive, staging)
            else:
                _read_to_the_end(archive)
                with tarfile.open(archive) as tar:
                    members = list(_safe_tar_members(tar, archive))
                    if HAS_DATA_FILTER:
                        tar.extractall(staging, members=members, filter="data")
                    else:
                        _extract_by_data_rules(tar, members, staging)
        except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError, ValueError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None and not isinstance(exc, EOFError):
                raise CookbookError(f"cannot extract {archive} into {destination.parent}: "
                                    f"{exc.strerror}; free some space or fix the folder's permissions") from None
            reason = " ".join(str(exc).split())[:200]  # tarfile's messages can span lines
            raise DataFormatError(f"{archive} is not a readable archive ({type(exc).__name__}: {reason}); "
                                  "delete it and download it again") from None
    return destination
