# Hostile: looks for other submissions, the gradebook, the hidden tests and the
# runner's secrets. The test writes the real course folder over COURSE_ROOT.
# Must find nothing; the answer itself is correct.
import os

from data_gen import make_numbers  # noqa: F401

COURSE_ROOT = "{course_root}"
SEARCHED = [COURSE_ROOT, "/home", "/tmp", "/srv", "/mnt", "/media", "/data", "/root", "/var",
            "/run", "/work", "/exchange", "/usr/local/share/nbgrader"]  # fmt: skip
found = []
for root in SEARCHED:
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith((".ipynb", ".db", ".sqlite")) or "submitted" in path:
                found.append(path)
                continue
            try:
                with open(path, "rb") as f:
                    if b"HIDDEN_TEST_MARKER" in f.read(1_000_000):
                        found.append(path)
            except OSError:
                pass
for secret in ("/proc/1/environ", "/proc/1/mem", "/proc/1/fd/0", "/proc/1/fd/1", "/proc/1/maps"):
    try:
        with open(secret, "rb") as f:
            f.read(1)
        found.append(secret)
    except OSError:
        pass
print("ATTACK-RESULT:", f"LEAKED {found}" if found else "blocked")


def add(a, b):
    return a + b
