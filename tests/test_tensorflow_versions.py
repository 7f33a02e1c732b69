"""A recipe under a TensorFlow we do not support stops with one line naming what is supported."""

import pytest

from conftest import assert_one_line_error, run_recipe


def _fake_tensorflow(root, version, compat_v1):
    """A stand-in `tensorflow` package, found before the real one through PYTHONPATH."""
    package = root / "tensorflow"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"__version__ = {version!r}\n")
    if compat_v1:
        (package / "compat").mkdir()
        (package / "compat" / "__init__.py").write_text("")
        (package / "compat" / "v1.py").write_text("raise SystemExit('the real compat.v1 must not be reached')\n")
    return root


@pytest.mark.parametrize("version, compat_v1, fragment", [
    ("1.14.0", True, "TensorFlow 1.14.0 is too old"),
    ("1.4.1", True, "TensorFlow 1.4.1 is too old"),
    ("2.0.0", False, "has no tensorflow.compat.v1"),
])
def test_unsupported_tensorflow_is_one_line(tmp_path, monkeypatch, version, compat_v1, fragment):
    fake = _fake_tensorflow(tmp_path / "site", version, compat_v1)
    monkeypatch.setenv("PYTHONPATH", str(fake))
    proc = run_recipe("mnist_cnn.py", "--dataset", "synthetic", "--steps", "1",
                      "--output-dir", tmp_path / "run", timeout=60)
    line = assert_one_line_error(proc, fragment, "TensorFlow 1.15")
    assert "2.x" in line and "Traceback" not in proc.stderr


def test_supported_versions_pass_the_check():
    from cnn_cookbook.tf1 import check_tensorflow_version, tf

    assert check_tensorflow_version("1.15.5") == (1, 15)
    assert check_tensorflow_version("2.21.0") == (2, 21)
    assert tf.Session is not None  # the running stack itself got through the check
