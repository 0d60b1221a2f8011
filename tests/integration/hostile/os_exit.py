# Hostile: a correct add, then the kernel process exits. The tests never run,
# so none can pass.
import os

from data_gen import make_numbers  # noqa: F401


def add(a, b):
    return a + b


os._exit(0)
