# Hostile: a wrong add; the test builder also replaces both locked test cells
# with `pass`. nbgrader restores them from the gradebook, so the cheat fails.
from data_gen import make_numbers  # noqa: F401


def add(a, b):
    return 0
