# Hostile: tries to write outside its work folder (system folders, the Python
# environment, the course folder on the host). Must fail; the answer is correct.

from data_gen import make_numbers  # noqa: F401

COURSE_ROOT = "{course_root}"
written = []
for path in (
    "/etc/aione-evil",
    "/usr/local/bin/aione-evil",
    "/opt/aione/lib/aione-evil.py",
    "/home/aione-evil",
    "/var/aione-evil",
    f"{COURSE_ROOT}/aione-evil",
    "/aione-evil",
):
    try:
        with open(path, "w") as f:
            f.write("evil")
        written.append(path)
    except OSError:
        pass
print("ATTACK-RESULT:", f"LEAKED {written}" if written else "blocked")


def add(a, b):
    return a + b
