"""The one result type every chapter's entry function returns.

A chapter (MNIST, CIFAR-10, the ensemble, retraining, the two adversarial chapters, style
transfer, DeepDream, filter visualisation, the VGG-19 check) has one entry function that owns its
Graph and Session (see the package docstring) and returns a :class:`ChapterRun`.  Recipes and
notebooks read the same four things from every chapter; what only one chapter has (an ensemble's
comparison table, the universal noises, a retrained layer's split) lives in ``outputs``.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional


@dataclass
class ChapterRun:
    metrics: dict                                   # JSON-ready numbers; what metrics.json holds
    figures: Dict[str, Any] = field(default_factory=dict)   # name -> matplotlib Figure
    history: Optional[Any] = None                   # training.History (or a dict of lists), if it trained
    paths: Dict[str, Path] = field(default_factory=dict)    # name -> file or folder it wrote
    outputs: Dict[str, Any] = field(default_factory=dict)   # chapter-specific arrays and tables

    def __getattr__(self, name):
        # Only reached for names that are not fields: a clear message instead of a bare
        # AttributeError, since notebooks used to read chapter-specific attributes directly.
        outputs = self.__dict__.get("outputs", {})
        paths = self.__dict__.get("paths", {})
        where = "outputs" if name in outputs else "paths" if name in paths else None
        hint = f"; it is in .{where}[{name!r}]" if where else ""
        raise AttributeError(f"ChapterRun has no attribute {name!r}{hint}")
