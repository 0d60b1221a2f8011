# Hostile: a correct add in a notebook whose kernelspec names a kernel that
# does not exist (the test builder sets it). nbgrader restores the course's
# kernel; the reason says so.
from data_gen import make_numbers  # noqa: F401


def add(a, b):
    return a + b
