# Hostile: a correct add, then a fork bomb: a child forks without end while
# the kernel waits. The pids limit stops the forking; at the cell timeout the
# runner freezes the kernel's process group, kills every process but the
# kernel and interrupts it, so the tests still run and pass.
#
# (A bomb looping in the kernel process itself usually cannot be interrupted:
# Python swallows a KeyboardInterrupt raised in os.fork's at-fork hooks. Such a
# submission ends "unresponsive" and its later cells score zero.)
import os
import time

from data_gen import make_numbers  # noqa: F401


def add(a, b):
    return a + b


if os.fork() == 0:
    while True:
        try:
            os.fork()
        except OSError:
            pass
time.sleep(600)
