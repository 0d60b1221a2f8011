# Hostile: a correct add, then a fork bomb. The pids limit stops the forking,
# the cell timeout interrupts the spinning processes; the tests still pass.
import os

from data_gen import make_numbers


def add(a, b):
    return a + b


while True:
    try:
        os.fork()
    except OSError:
        pass
