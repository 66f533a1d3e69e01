"""The scripts under bench/ loaded as modules, for the tests that reuse their data loading and models."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


@functools.cache
def bench_module(name: str) -> ModuleType:
    """bench/{name}.py, registered in sys.modules under `name` (dataclasses resolve their module by name)."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
