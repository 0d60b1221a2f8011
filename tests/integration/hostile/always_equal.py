# Hostile: add returns an object equal to everything. The tests check the type
# first (`type(x) is int`), so it fails.
from data_gen import make_numbers  # noqa: F401


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


def add(a, b):
    return AlwaysEqual()
