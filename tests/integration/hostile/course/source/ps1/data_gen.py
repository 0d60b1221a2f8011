"""Data of the grading tests' tiny assignment: three small numbers."""

DATA_VERSION = "1"


def make_numbers(seed: int = 0, size: str = "small") -> list[int]:
    """Return [1, 2, 3]; ``seed`` and ``size`` follow the course convention."""
    return [1, 2, 3]
