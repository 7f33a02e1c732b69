"""One code base for both stacks: everything must stay valid on Python 3.7 (the TF 1.15 stack).

CI also compiles the tree with a real Python 3.7 and runs the whole suite there; this check runs on
any Python, so a newer-only construct is caught on the TF 2.x stack too, before CI's second leg.
"""

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for folder in ("cnn_cookbook", "recipes", "tests", "benchmarks")
                 for p in (REPO / folder).rglob("*.py"))

# Library calls that newer Pythons added; each would fail only when the line runs on 3.7.
NEWER_ATTRIBUTES = {
    ("math", "prod"): "3.8", ("math", "isqrt"): "3.8", ("math", "dist"): "3.8", ("math", "comb"): "3.8",
    ("math", "perm"): "3.8", ("math", "nextafter"): "3.9", ("math", "lcm"): "3.9",
    ("functools", "cached_property"): "3.8", ("functools", "cache"): "3.9",
    ("functools", "singledispatchmethod"): "3.8", ("importlib", "metadata"): "3.8",
    ("statistics", "fmean"): "3.8", ("itertools", "pairwise"): "3.10", ("shlex", "join"): "3.8",
    ("random", "randbytes"): "3.9", ("typing", "Literal"): "3.8", ("typing", "Protocol"): "3.8",
    ("typing", "Final"): "3.8", ("typing", "TypedDict"): "3.8", ("os", "waitstatus_to_exitcode"): "3.9",
}
NEWER_METHODS = {"removeprefix": "3.9", "removesuffix": "3.9", "is_relative_to": "3.9",
                 "with_stem": "3.9", "hardlink_to": "3.10", "bit_count": "3.10"}
NEWER_KEYWORDS = {"missing_ok": "3.8 (Path.unlink)", "dirs_exist_ok": "3.8 (shutil.copytree)",
                  "kw_only": "3.10 (dataclass)", "slots": "3.10 (dataclass)", "strict": "3.10 (zip)"}
BUILTIN_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "type"}


def newer_than_37(tree):
    """(line, what) for each construct of the tree that Python 3.7 lacks."""
    found = []
    postponed = any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
                    and any(alias.name == "annotations" for alias in node.names) for node in tree.body)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            version = NEWER_ATTRIBUTES.get((node.value.id, node.attr))
            if version:
                found.append((node.lineno, f"{node.value.id}.{node.attr} (Python {version})"))
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                version = NEWER_ATTRIBUTES.get((node.module, alias.name))
                if version:
                    found.append((node.lineno, f"from {node.module} import {alias.name} (Python {version})"))
        if isinstance(node, ast.Import):
            found += [(node.lineno, "importlib.metadata (Python 3.8)")
                      for alias in node.names if alias.name == "importlib.metadata"]
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in NEWER_METHODS:
                found.append((node.lineno, f".{node.func.attr}() (Python {NEWER_METHODS[node.func.attr]})"))
            for keyword in node.keywords:
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if keyword.arg in NEWER_KEYWORDS and (keyword.arg != "strict" or name == "zip") \
                        and (keyword.arg != "slots" or name == "dataclass"):
                    found.append((node.lineno, f"{keyword.arg}= (Python {NEWER_KEYWORDS[keyword.arg]})"))
                if keyword.arg == "mtime" and name == "compress":
                    found.append((node.lineno, "gzip.compress(mtime=) (Python 3.8)"))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) \
                and isinstance(node.left, ast.Dict) and isinstance(node.right, ast.Dict):
            found.append((node.lineno, "dict | dict (Python 3.9)"))
        if not postponed and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations = [a.annotation for a in node.args.args + node.args.kwonlyargs if a.annotation]
            for annotation in annotations + ([node.returns] if node.returns else []):
                for part in ast.walk(annotation):
                    if isinstance(part, ast.Subscript) and isinstance(part.value, ast.Name) \
                            and part.value.id in BUILTIN_GENERICS:
                        found.append((part.lineno, f"{part.value.id}[...] annotation (Python 3.9)"))
                    if isinstance(part, ast.BinOp) and isinstance(part.op, ast.BitOr):
                        found.append((part.lineno, "X | Y annotation (Python 3.10)"))
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_source_is_python37(path):
    source = path.read_text(encoding="utf-8")
    # feature_version=(3, 7) makes a newer parser refuse 3.8+ grammar: :=, positional-only
    # parameters, f"{x=}", parenthesised context managers, match, except*. Python 3.7's own parser
    # (which has no such argument) refuses them anyway.
    grammar = {"feature_version": (3, 7)} if sys.version_info >= (3, 8) else {}
    tree = ast.parse(source, filename=str(path), **grammar)
    assert newer_than_37(tree) == []


@pytest.mark.parametrize("snippet", [
    "import math\nmath.prod([1, 2])", "from functools import cached_property", "'ab'.removeprefix('a')",
    "import gzip\ngzip.compress(b'', mtime=0)", "a = {} | {}", "def f(x: list[int]): pass",
    "from dataclasses import dataclass\n@dataclass(kw_only=True)\nclass A: pass", "import importlib.metadata",
])
def test_checker_sees_newer_constructs(snippet):
    """The checker itself: each of these runs on 3.11 but not on 3.7."""
    assert newer_than_37(ast.parse(snippet)), snippet


def test_postponed_annotations_are_fine():
    assert newer_than_37(ast.parse("from __future__ import annotations\ndef f(x: list[int]) -> dict[str, int]: pass")) == []
