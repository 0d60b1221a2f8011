# Hostile: a correct add, then 100 MB of output. The output is cut at the
# limit with a note; the tests still run and pass.
from data_gen import make_numbers  # noqa: F401


def add(a, b):
    return a + b


line = "x" * 999_999
for _ in range(100):
    print(line)
