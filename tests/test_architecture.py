"""The package's layers, read from its imports: no module imports one from a higher layer.

Lowest first: the base helpers, file formats and downloads (io), data sets, networks, the training
layer every chapter shares, the chapters, and the command line (recipes sit above everything).
A chapter may use another chapter (the ensemble trains MNIST networks); nothing may reach up.
Imports under ``if __name__ == "__main__":`` are a module's program entry, not the library's
structure, and are left out.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnn_cookbook"

LAYERS = (
    ("base", {"cnn_cookbook", "errors", "tf1", "paths", "fileio", "progress", "results", "_as_program"}),
    ("io", {"io", "io.downloads", "io.images", "graphs", "checkpoints"}),
    ("datasets", {"datasets", "datasets.*"}),
    ("nets", {"nets", "nets.*"}),
    ("training", {"training", "checkpoint_network", "summaries", "plots", "multi_device", "cluster", "run_folder",
                  "serving"}),
    ("chapters", {"mnist_cnn", "cifar10_cnn", "ensemble", "bottlenecks", "retrain", "universal_noise", "attacks",
                  "adversarial_plots", "adversarial", "stylenet", "deepdream", "visualize"}),
    ("command line", {"cli", "launcher", "__main__"}),
)


def module_name(path):
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "cnn_cookbook"


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module):
    for rank, (_, members) in enumerate(LAYERS):
        if module in members or any(m.endswith(".*") and module.startswith(m[:-1]) for m in members):
            return rank
    return None


def _is_main_block(node):
    test = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__")


def _imports(tree):
    """(line, imported cnn_cookbook module) for every import outside a ``__main__`` block."""
    pending = [n for n in tree.body if not _is_main_block(n)]
    while pending:
        node = pending.pop()
        pending.extend(n for n in ast.iter_child_nodes(node) if not _is_main_block(n))
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "cnn_cookbook":
                continue
            # the longest prefix that is a module: "cnn_cookbook.nets.get_network" -> "nets"
            for end in range(len(parts), 0, -1):
                candidate = ".".join(parts[1:end]) or "cnn_cookbook"
                if candidate in MODULES:
                    yield node.lineno, candidate
                    break


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in MODULES if layer_of(m) is None)
    assert not unplaced, f"add these modules to LAYERS in {Path(__file__).name}: {unplaced}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_reaches_a_higher_layer(module):
    rank = layer_of(module)
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    upward = [f"line {line}: {target} ({LAYERS[layer_of(target)][0]})" for line, target in _imports(tree)
              if layer_of(target) is not None and rank is not None and layer_of(target) > rank]
    assert not upward, f"{module} ({LAYERS[rank][0]}) imports from a higher layer: {upward}"


def test_the_library_never_imports_the_recipes():
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "recipes" or n.startswith("recipes.") for n in names), module


def test_the_check_itself_sees_an_upward_import():
    tree = ast.parse("from cnn_cookbook.cli import check_batch_size\n"
                     "if __name__ == '__main__':\n    from cnn_cookbook.__main__ import run_as_module\n")
    assert list(_imports(tree)) == [(1, "cli")]
    assert layer_of("nets.vgg19") < layer_of("training") < layer_of("cli")


def _calls(tree, name):
    """Lines that call ``name`` (``new_session``) or an attribute of that name (``tf.Session``)."""
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
            and name in (getattr(node.func, "id", None), getattr(node.func, "attr", None))]


def test_sessions_are_opened_in_one_place_and_never_below_the_training_layer():
    """The package docstring's rule: loaders and graph pieces open no Session; every Session the
    package opens itself comes from tf1.new_session."""
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if module != "tf1":
            assert not _calls(tree, "Session") and not _calls(tree, "InteractiveSession"), module
        if layer_of(module) < layer_of("training"):
            assert not _calls(tree, "new_session"), f"{module} (a loader or graph piece) opens a Session"
