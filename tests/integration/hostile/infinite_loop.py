# Hostile: loops forever before defining add. The cell is interrupted at the
# cell timeout; add never exists, so every test fails.
from data_gen import make_numbers  # noqa: F401

while True:
    pass


def add(a, b):
    return a + b
