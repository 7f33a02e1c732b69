"""Every chapter notebook runs top to bottom at tiny sizes, with inline figures and no warnings.

Each notebook's cell tagged ``parameters`` holds its step counts and sizes; the test adds a cell
after it with tiny values (as papermill injects parameters), runs the notebook in a fresh kernel
with nbclient from ``recipes/notebooks/``, and checks that it raised nothing, that figures came
out as PNG images (not as "<Figure size ...>" text), and that no progress-bar warning was printed.
The notebooks in git must carry no outputs.
"""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "recipes" / "notebooks"
TINY = {
    "01_mnist": dict(DATASET="idx", DATA_DIR="{mnist}", STEPS=5),
    "02_cifar10": dict(STEPS=3, SYNTHETIC_PER_CLASS=20),
    "03_retraining": dict(PER_CLASS=6, STEPS=5),
    "04_stylenet": dict(MAX_SIZE=32, STEPS=2),
    "05_deepdream": dict(MAX_SIZE=48, STEPS=2, OCTAVES=2, STIMULUS_STEPS=2),
    "06_ensembles_adversarial": dict(DATASET="idx", DATA_DIR="{mnist}", NETWORKS=2, STEPS=5, NOISE_STEPS=3),
    # 3 classes x 2 clips of 4 frames, every 2nd kept: 12 frames (the clip names put a video of each
    # class in training, and one video in testing, at these percentages)
    "07_video": dict(CLIPS_PER_CLASS=2, FRAMES_PER_CLIP=4, EVERY=2, STEPS=5, HIDDEN_UNITS=8,
                     TESTING_PERCENTAGE=30, VALIDATION_PERCENTAGE=30),
}


def test_every_notebook_has_tiny_settings_and_no_stored_outputs():
    names = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == sorted(TINY)
    for name in names:
        nb = nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{name}: strip outputs"
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and all(f"{key} =" in tagged[0].source for key in TINY[name]), name


@pytest.mark.parametrize("name", sorted(TINY))
def test_notebook_runs_with_inline_figures(name, tmp_path, request):
    nb = nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    values = dict(TINY[name], OUTPUT_DIR=str(tmp_path / "run"))
    if "{mnist}" in values.values():  # the small synthetic digits of conftest, made once per session
        values = {k: str(request.getfixturevalue("mnist_dir")) if v == "{mnist}" else v for k, v in values.items()}
    lines = [f"{key} = {value!r}" for key, value in values.items()]
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell("\n".join(lines)))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any exception
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{name} produced no inline image"
    shown_as_text = [o["data"]["text/plain"] for o in outputs
                     if "<Figure size" in o.get("data", {}).get("text/plain", "") and o not in images]
    assert not shown_as_text, shown_as_text
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "TqdmWarning" not in stderr and "IProgress" not in stderr, stderr[-2000:]
