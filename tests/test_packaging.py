"""The package as a user gets it: metadata, the sdist, an install in a fresh venv, the console
script and ``python -m``, per-user data folders outside a checkout, umask-honouring writes."""

import os
import re
import stat
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

from cnn_cookbook import fileio, paths

REPO = Path(__file__).resolve().parents[1]
STACKS = {"requirements.txt": "python_version >= '3.10'", "requirements-tf1.txt": "python_version < '3.8'"}


def _requirement_lines(text):
    lines = (line.split("#")[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def test_pyproject_lists_the_requirements_files_versions_per_stack():
    pyproject = (REPO / "pyproject.toml").read_text()
    declared = re.findall(r'"([^";]+); (python_version [^"]+)"', pyproject)
    for name, marker in STACKS.items():
        wanted = set()
        for line in _requirement_lines((REPO / name).read_text()):
            # the package depends on `tensorflow` itself, whichever build a requirements file pins
            line = re.sub(r"^tensorflow(-cpu|-gpu)?==", "tensorflow==", line)
            wanted.add(line)
        got = {spec for spec, spec_marker in declared if spec_marker == marker
               and not spec.startswith("tensorflow[")}
        assert got == wanted, (name, got ^ wanted)


def test_every_guide_is_linked_from_the_readme_and_every_link_resolves_inside_the_repository():
    readme = REPO / "README.md"
    guides = sorted((REPO / "docs").glob("*.md"))
    assert guides, "the chapter guides live in docs/"
    linked = set()
    for page in [readme, *guides]:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+://", target):
                continue  # a web address, not a file of ours
            resolved = (page.parent / target).resolve()
            assert resolved.is_file() and REPO in resolved.parents, f"{page.name}: broken link {target}"
            linked.add(resolved)
        assert "shared/" not in text, f"{page.name} points outside the repository"
    assert set(guides) <= linked, sorted(p.name for p in set(guides) - linked)


def test_license_file_metadata_and_readme_name_the_same_licence():
    pyproject = (REPO / "pyproject.toml").read_text()
    licence = re.search(r'^license = \{text = "([^"]+)"\}', pyproject, re.M).group(1)
    assert (REPO / "LICENSE").read_text().splitlines()[0] == f"{licence} License"
    assert f'"License :: OSI Approved :: {licence} License"' in pyproject
    assert f"\n{licence} (see [LICENSE](LICENSE))" in (REPO / "README.md").read_text()


def test_writes_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        written = fileio.write_json(tmp_path / "a" / "metrics.json", {"x": 1})
        with fileio.atomic_dir(tmp_path / "folder") as staging:
            (staging / "f").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(written.stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o750


def test_checkout_uses_its_own_folders_and_an_install_a_per_user_one(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("CNN_COOKBOOK_DATA")
    monkeypatch.delenv("CNN_COOKBOOK_MODELS")
    assert paths.data_root() == REPO / "data" and paths.models_root() == REPO / "models"
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    monkeypatch.setattr(paths, "_announced", set())
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    first, again = paths.data_root(), paths.data_root()
    assert first == again and tmp_path in first.parents and first.name == "data"
    said = capsys.readouterr().err
    assert said.count("CNN_COOKBOOK_DATA") == 1 and str(first) in said  # once, naming the folder
    monkeypatch.setenv("CNN_COOKBOOK_MODELS", str(tmp_path / "mine"))
    assert paths.models_root() == tmp_path / "mine"


def test_synthetic_digits_say_that_they_are_being_generated(tmp_path, capsys):
    from cnn_cookbook.datasets.mnist import write_synthetic_mnist

    write_synthetic_mnist(tmp_path / "digits", train=30, test=10, announce=print)
    assert "generating the synthetic digits (30 train, 10 test)" in capsys.readouterr().out
    write_synthetic_mnist(tmp_path / "digits", train=30, test=10, announce=print)
    assert capsys.readouterr().out == ""  # written once, then reused silently


def test_library_module_run_as_a_program_is_not_a_silent_no_op():
    done = subprocess.run([sys.executable, "-m", "cnn_cookbook.retrain"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 2 and "cnn-cookbook retrain_inception" in done.stderr, done.stderr


@pytest.mark.parametrize("module", ["cnn_cookbook.training", "cnn_cookbook.datasets.mnist", "cnn_cookbook.nets"])
def test_a_module_that_is_not_a_program_is_refused_before_it_is_imported(module, tmp_path):
    # a TensorFlow that fails to import: the refusal must come before the module imports it
    fake = tmp_path / "site" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise RuntimeError('tensorflow was imported')\n")
    env = dict(os.environ, PYTHONPATH=str(fake.parent))
    done = subprocess.run([sys.executable, "-m", module, "--steps", "5"], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert done.stderr.splitlines() == [
        f"error: {module} is a library module, not a program; run a recipe instead "
        "('cnn-cookbook --help' or 'python -m cnn_cookbook --help' lists them)"]
    # the same package imported any other way: no exit, nothing printed, TensorFlow not imported
    done = subprocess.run([sys.executable, "-c", f"import {module.rsplit('.', 1)[0]}, sys; "
                           "print('tensorflow' in sys.modules)"], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "False\n", "")


def _tracked_files():
    listing = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                             text=True, timeout=60)
    if listing.returncode != 0:
        pytest.skip("not a git checkout: cannot tell which files the sdist is built from")
    return [REPO / line for line in listing.stdout.splitlines() if (REPO / line).is_file()]


def test_sdist_installs_in_a_fresh_venv_and_runs_from_an_empty_folder(tmp_path, mnist_dir):
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 61:
        pytest.skip(f"setuptools {setuptools.__version__} cannot read pyproject.toml metadata (61 can)")
    # build from a copy of the checkout's files, so that nothing is written into the checkout
    source = tmp_path / "source"
    for path in _tracked_files():
        target = source / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    dist = tmp_path / "dist"
    # the PEP 517 hook itself (what `python -m build --sdist --no-isolation` calls), offline
    subprocess.run([sys.executable, "-c", "import sys, setuptools.build_meta as b; b.build_sdist(sys.argv[1])",
                    str(dist)], check=True, capture_output=True, cwd=source, timeout=300)
    sdist, = dist.glob("cnn_cookbook-*.tar.gz")
    names = {name.split("/", 1)[1] for name in tarfile.open(sdist).getnames() if "/" in name}
    for needed in ("pyproject.toml", "README.md", "LICENSE", "requirements.txt", "requirements-tf1.txt",
                   "cnn_cookbook/__main__.py", "recipes/mnist_cnn.py", "recipes/notebooks/01_mnist.ipynb",
                   "tests/conftest.py", "docs/command-line.md", "docs/errors.md"):
        assert needed in names, needed

    # a fresh venv that sees this one's packages (TensorFlow, pip, setuptools) but not cnn_cookbook's
    # source: --no-deps keeps the install offline and fast
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "borrowed.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    str(sdist)], check=True, capture_output=True, timeout=300)

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNN_COOKBOOK_", "PYTHON"))}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "home" / "share"), MPLBACKEND="Agg")

    def run(*command):
        return subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=empty, env=env,
                              timeout=300)

    done = run(venv / "bin" / "cnn-cookbook", "mnist_cnn", "--steps", "5", "--dataset", "idx",
               "--data-dir", mnist_dir, "--device", "cpu")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (empty / "runs" / "mnist_cnn" / "metrics.json").is_file()
    done = run(python, "-m", "cnn_cookbook", "deepdream", "--weights", "stand-in", "--list-layers")
    assert done.returncode == 0 and "59 layers, 7548 channels" in done.stdout, done.stderr[-3000:]
    models = tmp_path / "home" / "share" / "cnn_cookbook" / "models"
    assert (models / "inception5h-standin-v1").is_dir() and str(models) in done.stderr
    assert sorted(p.name for p in empty.iterdir()) == ["runs"]  # no data/ or models/ in the user's folder
    done = run(python, "-c", "import cnn_cookbook, cnn_cookbook.recipes as r; print(cnn_cookbook.__file__, r.__file__)")
    assert all(str(venv) in p for p in done.stdout.split()), done.stdout  # the installed copy, not the checkout
    done = run(python, "-m", "cnn_cookbook", "no_such_recipe")
    assert done.returncode == 2 and done.stderr.startswith("error: no recipe")


def test_without_tensorflow_a_recipe_says_so_in_one_line(tmp_path, monkeypatch):
    from conftest import assert_one_line_error, run_recipe

    fake = tmp_path / "site" / "tensorflow"  # found first on PYTHONPATH: an install without TensorFlow
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'tensorflow'\", name='tensorflow')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    proc = run_recipe("mnist_cnn.py", "--dataset", "idx", "--data-dir", tmp_path, "--steps", "1",
                      "--output-dir", tmp_path / "run", timeout=120)
    assert_one_line_error(proc, "TensorFlow is not installed")
