# Hostile: tries to reach the network (an outside address and the Docker
# host). Must fail inside the sandbox; the answer itself is correct.
import socket

from data_gen import make_numbers  # noqa: F401

reached = []
for host, port in (("1.1.1.1", 53), ("172.17.0.1", 2375), ("pypi.org", 443)):
    try:
        socket.create_connection((host, port), timeout=2).close()
        reached.append(f"{host}:{port}")
    except OSError:
        pass
print("ATTACK-RESULT:", f"LEAKED {reached}" if reached else "blocked")


def add(a, b):
    return a + b
