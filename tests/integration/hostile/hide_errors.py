# Hostile: a wrong add, plus two tricks to make failed tests look passed:
# tracebacks switched off, and every cell's output cleared after it runs.
# The error reply still counts, and errors survive clear_output.
from data_gen import make_numbers  # noqa: F401
from IPython import get_ipython
from IPython.display import clear_output

shell = get_ipython()
shell.showtraceback = lambda *args, **kwargs: None
shell.events.register("post_run_cell", lambda result: clear_output())


def add(a, b):
    return 0
