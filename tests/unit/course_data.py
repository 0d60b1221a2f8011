"""Shared helpers of the course data tests (tests/unit/test_course_data_<track>.py)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

COURSES = Path(__file__).resolve().parents[2] / "courses"


def load_generator(track: str, assignment: str) -> ModuleType:
    """Import ``courses/<track>/source/<assignment>/data_gen.py`` under a unique name."""
    path = COURSES / track / "source" / assignment / "data_gen.py"
    spec = importlib.util.spec_from_file_location(f"{track}_{assignment}_data_gen", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def content_hash(*parts: pd.DataFrame | pd.Series | np.ndarray) -> str:
    """sha256 over the parts in order: frames and series by their row hashes (index
    included), arrays by their raw bytes."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, pd.DataFrame | pd.Series):
            digest.update(pd.util.hash_pandas_object(part, index=True).values.tobytes())
        else:
            digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()
