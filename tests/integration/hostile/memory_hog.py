# Hostile: a correct add, then 4 GiB of memory. The kernel is killed by the
# container's memory limit; no test runs, so none can pass.
from data_gen import make_numbers  # noqa: F401


def add(a, b):
    return a + b


hog = b"x" * (4 * 1024**3)
