"""``python -m cnn_cookbook.<module>`` for a module that is not a program: one line, exit status 2.

Most modules of the package are library code: run as a program they would define their functions
and exit 0, doing nothing, which reads as success.  :func:`refuse_library_module` runs while the
package itself is being imported, which ``python -m`` does before it runs the module: so the
refusal comes before the module (and TensorFlow) is imported.  Modules that are programs say so
with their own ``if __name__ == "__main__":`` block (the chapter modules, ``__main__``, the
installed ``cnn_cookbook.recipes``); those run as before.

Standard library only: this module is imported by ``cnn_cookbook/__init__.py``.
"""

import ast
import sys
from pathlib import Path

PACKAGE = "cnn_cookbook"
#: what ``python -m cnn_cookbook.<chapter module>`` should have been: the recipe of that chapter
RECIPE_OF_MODULE = {
    "mnist_cnn": "mnist_cnn", "cifar10_cnn": "cifar10_cnn", "stylenet": "stylenet",
    "deepdream": "deepdream", "retrain": "retrain_inception", "ensemble": "mnist_ensemble",
    "adversarial": "adversarial_image", "visualize": "visualize_filters",
}


def refusal(module_name):
    """The one ``error:`` line for ``python -m <module_name>``, naming what to run instead."""
    short = module_name.rsplit(".", 1)[-1]
    recipe = RECIPE_OF_MODULE.get(short)
    if recipe:
        hint = f"run 'cnn-cookbook {recipe}' (or python -m {PACKAGE} {recipe})"
    else:
        hint = f"run a recipe instead ('cnn-cookbook --help' or 'python -m {PACKAGE} --help' lists them)"
    return f"error: {module_name} is a library module, not a program; {hint}"


def _module_run_with_dash_m():
    """The module name given to ``python -m``, while that command imports its parent packages.

    ``sys.argv[0]`` is "-m" only during that import (the documented ``-m`` behaviour), so any
    other import returns at once.  The name itself is an argument of runpy's
    ``_run_module_as_main``, the function that ``-m`` calls (CPython 3.7 to 3.13), read from its
    frame: Python 3.7 has no ``sys.orig_argv``.
    """
    if getattr(sys, "argv", [None])[:1] != ["-m"]:
        return None
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_run_module_as_main" and frame.f_globals.get("__name__") == "runpy":
            name = frame.f_locals.get("mod_name")
            return name if isinstance(name, str) else None
        frame = frame.f_back
    return None


def _defines_a_program(path):
    """Whether the module's source has a top-level ``if __name__ == "__main__":`` block."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return True  # not ours to judge: let Python run it and report what it finds
    for node in tree.body:
        test = getattr(node, "test", None) if isinstance(node, ast.If) else None
        if isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__":
            return True
    return False


def _source_of(module_name):
    """The file of ``cnn_cookbook.<...>`` inside this package, or None (no such module)."""
    parts = module_name.split(".")[1:]
    base = Path(__file__).resolve().parent.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def refuse_library_module():
    """Stop ``python -m cnn_cookbook.<library module>`` with one line and exit status 2."""
    name = _module_run_with_dash_m()
    if not name or not name.startswith(PACKAGE + ".") or name.endswith(".__main__"):
        return  # not ``-m``, another package's module, or a __main__ that is a program by name
    source = _source_of(name)
    if source is None or _defines_a_program(source):
        return  # Python's own "No module named ..." or the module's own program
    print(refusal(name), file=sys.stderr)
    sys.exit(2)
