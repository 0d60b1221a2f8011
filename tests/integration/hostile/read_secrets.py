# Hostile: looks for other submissions, the gradebook, the hidden tests and the
# runner's secrets. The test writes the real course folder over COURSE_ROOT.
# Must find nothing; the answer itself is correct.
import glob
import os

from data_gen import make_numbers

COURSE_ROOT = "{course_root}"
found = []
for pattern in (
    f"{COURSE_ROOT}/**",
    "/home/**/*.ipynb", "/tmp/**/*.ipynb", "/srv/**", "/mnt/**", "/data/**",
    "/**/gradebook.db", "/**/submitted/**", "/**/source/ps1/**", "/**/autograded/**",
):
    try:
        found += [p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
    except OSError:
        pass
for root in ("/home", "/tmp", "/srv", "/mnt", "/var/tmp", os.getcwd()):
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                with open(os.path.join(folder, name), "rb") as f:
                    if b"HIDDEN_TEST_MARKER" in f.read():
                        found.append(os.path.join(folder, name))
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
