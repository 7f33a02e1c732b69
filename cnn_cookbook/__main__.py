"""Run a recipe: ``cnn-cookbook <recipe> [flags]`` or ``python -m cnn_cookbook <recipe> [flags]``.

The recipes are the package's ``cnn_cookbook.recipes`` modules, which are the files of
``recipes/`` in a checkout (the build maps that folder into the package), so
``cnn-cookbook mnist_cnn --steps 5`` and ``python recipes/mnist_cnn.py --steps 5`` run the same
code with the same flags.  ``cnn-cookbook --help`` lists the recipes with their first docstring
line; ``cnn-cookbook <recipe> --help`` shows the recipe's own flags.
"""

import ast
import difflib
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

from cnn_cookbook import __version__

RECIPES_PACKAGE = "cnn_cookbook.recipes"


def _recipes_folder():
    """Where the recipe files are: the installed subpackage, or ``recipes/`` of a checkout."""
    spec = importlib.util.find_spec(RECIPES_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parents[1] / "recipes"


def recipes():
    """``{name: first line of its docstring}`` for every recipe, read without importing them."""
    found = {}
    for info in pkgutil.iter_modules([str(_recipes_folder())]):
        if info.name.startswith("_") or info.ispkg:
            continue
        source = (_recipes_folder() / f"{info.name}.py").read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(source)) or ""
        found[info.name] = " ".join(doc.strip().split("\n\n")[0].split())  # its first paragraph
    return dict(sorted(found.items()))


def usage(found):
    width = max(len(name) for name in found) if found else 0
    lines = ["usage: cnn-cookbook <recipe> [flags]   (or: python -m cnn_cookbook <recipe> [flags])",
             "", "Runs one of the cookbook's recipes; 'cnn-cookbook <recipe> --help' shows its flags.",
             "", "recipes:"]
    lines += [f"  {name:{width}}  {summary}" for name, summary in found.items()]
    lines += ["", "options:", "  -h, --help   show this list", "  --version    print the package version"]
    return "\n".join(lines)


def _import_recipe(name):
    """The recipe's module, imported as ``cnn_cookbook.recipes.<name>`` (installed) or from the
    checkout's ``recipes/`` folder (a checkout that was not installed has no such subpackage)."""
    before = list(sys.path)
    try:
        module = importlib.import_module(f"{RECIPES_PACKAGE}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name not in (RECIPES_PACKAGE, f"{RECIPES_PACKAGE}.{name}"):
            raise
        path = _recipes_folder() / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"{RECIPES_PACKAGE}.{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    # A recipe puts the folder above it on sys.path so that a checkout runs without installing;
    # installed, that folder is the package itself, whose modules must not become top-level names.
    package_dir = str(Path(__file__).resolve().parent)
    if package_dir not in before:
        sys.path[:] = [entry for entry in sys.path if entry != package_dir]
    return module


def main(argv=None):
    """Entry point of the ``cnn-cookbook`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    found = recipes()
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(found), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"cnn_cookbook {__version__}")
        return 0
    name = argv[0][:-3] if argv[0].endswith(".py") else argv[0]
    name = name.replace("-", "_")
    if name not in found:
        close = difflib.get_close_matches(name, list(found), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        print(f"error: no recipe {argv[0]!r}; {hint}'cnn-cookbook --help' lists them", file=sys.stderr)
        return 2
    module = _import_recipe(name)
    sys.argv = [f"cnn-cookbook {name}", *argv[1:]]  # argparse names the program from argv[0]
    status = module.main(argv[1:])
    return 0 if status is None else status


def run_as_module(module_name):
    """``python -m cnn_cookbook.<chapter module>``: run the recipe of the same name.

    The chapter modules whose recipe has their name call this from their ``__main__`` block.
    Every other module, a chapter whose recipe has another name included, is refused with the
    recipe to run before it is imported (:mod:`cnn_cookbook._as_program`).
    """
    sys.exit(main([module_name.rsplit(".", 1)[-1], *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
