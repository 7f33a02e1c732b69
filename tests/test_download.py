"""Downloads (against a local HTTP server) and safe archive extraction; no outside network."""

import functools
import hashlib
import http.server
import io
import tarfile
import threading
import time
import zipfile

import pytest

from cnn_cookbook.io.downloads import RemoteFile, extract_archive, fetch
from cnn_cookbook.errors import ChecksumError, DataFormatError, MissingFileError

PAYLOAD = b"cnn_cookbook test payload " * 1000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    (root / "file.bin").write_bytes(PAYLOAD)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def _closed_port_url():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/file.bin"


def test_download_verifies_and_uses_the_next_mirror(server, tmp_path):
    good = RemoteFile("file.bin", (_closed_port_url(), server + "file.bin"),
                      sha256=hashlib.sha256(PAYLOAD).hexdigest())
    path = fetch(good, tmp_path, download=True, progressbar=False)
    assert path.read_bytes() == PAYLOAD
    assert fetch(good, tmp_path) == path  # present: no download needed


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    bad = RemoteFile("file.bin", (server + "file.bin",), sha256="0" * 64)
    with pytest.raises(ChecksumError, match="does not match its published checksum"):
        fetch(bad, tmp_path, download=True, progressbar=False)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a partial download


def test_missing_file_error_names_path_and_urls(tmp_path):
    remote = RemoteFile("weights.mat", ("https://example.invalid/weights.mat",))
    with pytest.raises(MissingFileError) as info:
        fetch(remote, tmp_path / "models")
    message = str(info.value)
    assert str((tmp_path / "models" / "weights.mat").resolve()) in message
    assert "download it from https://example.invalid/weights.mat" in message
    assert "\n" not in message and "--" not in message  # a notebook has no flags; the command line adds one
    assert info.value.fields == ("download",)


def test_offline_download_fails_fast_with_every_url(tmp_path):
    urls = (_closed_port_url(), _closed_port_url())
    began = time.monotonic()
    with pytest.raises(MissingFileError) as info:
        fetch(RemoteFile("file.bin", urls, md5="0" * 32), tmp_path, download=True, progressbar=False)
    assert time.monotonic() - began < 10
    assert all(url in str(info.value) for url in urls)
    assert not (tmp_path / "file.bin").exists()


def test_trust_on_first_use_records_the_hash(server, tmp_path):
    remote = RemoteFile("file.bin", (server + "file.bin",))
    path = fetch(remote, tmp_path, download=True, progressbar=False)
    assert (tmp_path / "file.bin.sha256").read_text().split()[0] == hashlib.sha256(PAYLOAD).hexdigest()
    path.unlink()
    (tmp_path / "file.bin.sha256").write_text("1" * 64 + "  file.bin\n")  # the server's copy changed
    with pytest.raises(ChecksumError):
        fetch(remote, tmp_path, download=True, progressbar=False)


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_tar_extracts_once_into_the_target(tmp_path):
    archive = _tar(tmp_path / "a.tgz", [("top/x.txt", b"x", "file"), ("top/sub/y.txt", b"y", "file")])
    target = extract_archive(archive, tmp_path / "out")
    assert (target / "top" / "sub" / "y.txt").read_bytes() == b"y"
    (target / "top" / "x.txt").write_bytes(b"edited")
    extract_archive(archive, target)  # finished extraction is not repeated
    assert (target / "top" / "x.txt").read_bytes() == b"edited"


@pytest.mark.parametrize("name,kind", [("../evil.txt", "file"), ("top/../../evil.txt", "file"),
                                       ("/tmp/evil.txt", "file"), ("top/link", "link")])
def test_unsafe_tar_members_are_refused(tmp_path, name, kind):
    archive = _tar(tmp_path / "bad.tgz", [("top/ok.txt", b"ok", "file"), (name, b"evil", kind)])
    with pytest.raises(DataFormatError, match="refusing"):
        extract_archive(archive, tmp_path / "out" / "target")
    assert not (tmp_path / "out" / "target").exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == []  # no staging folder left behind


def test_unsafe_zip_member_is_refused(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", "ok")
        zf.writestr("../evil.txt", "evil")
    with pytest.raises(DataFormatError, match="unsafe member"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out").exists()


def test_corrupt_archive_is_a_clear_error(tmp_path):
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataFormatError, match="not a readable archive"):
        extract_archive(archive, tmp_path / "out")
