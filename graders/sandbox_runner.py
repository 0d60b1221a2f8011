"""Run one submission's notebooks inside its grading container.

:mod:`graders.sandbox` starts this file as PID 1 of a throwaway container
(``python -I -c <this source> <start-json>``). It imports only the standard
library and pyzmq, so it is ready in about 0.1 s (nbclient and nbformat take
about a second to import), and it speaks the Jupyter messaging protocol to one
kernel per notebook itself, with nbgrader's execution rules: a cell timeout
that interrupts the kernel and goes on (``CellTimeoutError``), errors allowed,
and an error reply always leaves an error output.

Contract
--------
argv[1]  JSON ``{"workdir": path, "runtime_dir": path, "kernels": [name, ...]}``;
         the first kernel starts at once, while the job is still being read.
         Connection files and sockets go to ``runtime_dir``.
stdin    one JSON object: ``key`` (hex, signs the result), ``cell_timeout``,
         ``interrupt_grace``, ``startup_timeout`` (seconds), ``output_limit``
         (bytes per notebook), ``files`` ({relative path: base64}) and
         ``notebooks`` ([{"name", "kernel", "cells": [{"index", "source"}]}]).
stdout   one line ``AIONE-RESULT <hmac-sha256(key, body) hex> <body>``; body is
         JSON ``{"notebooks": [{"name", "status", "detail", "truncated_bytes",
         "timed_out_cells", "cells": [{"index", "execution_count",
         "outputs"}]}], "oom_kills": n}``. Status is one of ``ok``,
         ``timeout``, ``unresponsive``, ``kernel_died``, ``unknown_kernel``,
         ``kernel_failed``. A cell that never got a reply has
         ``execution_count`` null; the host fails it.

What the learner's code (running in the kernel, same uid) cannot do to us:
this process is not dumpable, so its memory, environment and file
descriptors under /proc are closed to the kernel; as PID 1 of the container
it ignores every signal sent from inside; kernels get /dev/null as stdout,
so only this process writes the result; kernels run with
``oom_score_adj=1000`` so the out-of-memory killer takes them first; error
outputs survive ``clear_output``; stream and display outputs past
``output_limit`` are dropped with a note, errors are kept (shortened).
"""

from __future__ import annotations

import base64
import ctypes
import datetime
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import zmq

DELIM = b"<IDS|MSG>"
ERROR_TEXT_LIMIT = 16 * 1024
RESULT_LIMIT = 1024 * 1024
RESULT_KEEP = 64 * 1024
MAX_MESSAGE = 256 * 1024 * 1024
IDLE_AFTER_REPLY_S = 2.0
INTERRUPT_EVERY_S = 1.0
#: Starts IPython's kernel like ``python -m ipykernel_launcher`` without importing
#: debugpy (0.2 s; grading needs no debugger).
FAST_LAUNCH = (
    "import sys; sys.modules['debugpy'] = None; del sys.path[0]; "
    "from ipykernel import kernelapp; kernelapp.launch_new_instance()"
)
PROTOCOL_VERSION = "5.3"


class KernelError(Exception):
    """A kernel could not start, or died; ``status`` names which."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def harden() -> None:
    """Close /proc/1 to the kernel and ignore signals sent from inside."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
        signal.signal(sig, lambda *_: None)  # a handler, not SIG_IGN: reset on exec


def find_kernelspec(name: str) -> dict[str, Any]:
    """The kernel.json of ``name`` from the image's Jupyter data paths.

    Not from the home folder: a learner's first notebook could plant a kernel
    there for the second one.
    """
    if not name or "/" in name or name.startswith("."):
        raise KernelError("unknown_kernel", f"kernel name {name!r} is not valid")
    roots = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    roots += [f"{sys.prefix}/share/jupyter", "/usr/local/share/jupyter", "/usr/share/jupyter"]
    for root in roots:
        path = Path(root, "kernels", name, "kernel.json")
        if path.is_file():
            spec: dict[str, Any] = json.loads(path.read_text())
            spec["resource_dir"] = str(path.parent)
            return spec
    raise KernelError("unknown_kernel", f"no kernel named {name!r} in the grading image")


def kernel_argv(spec: dict[str, Any], connection_file: str) -> list[str]:
    """The command line of a kernel, as jupyter_client would build it."""
    argv = [
        a.replace("{connection_file}", connection_file).replace(
            "{resource_dir}", spec.get("resource_dir", "")
        )
        for a in spec["argv"]
    ]
    if argv and argv[0] in {"python", "python3", f"python3.{sys.version_info[1]}"}:
        argv[0] = sys.executable
    if argv[1:3] == ["-m", "ipykernel_launcher"]:
        argv[1:3] = ["-c", FAST_LAUNCH]
        argv.append("--HistoryManager.hist_file=:memory:")
    return argv


class Kernel:
    """One kernel process and the two channels the runner uses (shell, iopub)."""

    def __init__(self, name: str, workdir: Path, runtime: Path, number: int) -> None:
        spec = find_kernelspec(name)
        self.key = os.urandom(32).hex().encode()
        self.session = uuid.uuid4().hex
        base = str(runtime / f"aione-kernel-{number}")
        connection = {
            "transport": "ipc",
            "ip": base,
            "shell_port": 1,
            "iopub_port": 2,
            "stdin_port": 3,
            "control_port": 4,
            "hb_port": 5,
            "key": self.key.decode(),
            "signature_scheme": "hmac-sha256",
            "kernel_name": name,
        }
        connection_file = f"{base}.json"
        with open(os.open(connection_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(connection, f)
        self.stderr_path = f"{base}.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                kernel_argv(spec, connection_file),
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
        try:
            Path(f"/proc/{self.proc.pid}/oom_score_adj").write_text("1000")
        except OSError:
            pass
        ctx: Any = zmq.Context.instance()
        self.shell = ctx.socket(zmq.DEALER)
        self.iopub = ctx.socket(zmq.SUB)
        for sock, port in ((self.shell, 1), (self.iopub, 2)):
            sock.linger = 0
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
            sock.connect(f"ipc://{base}-{port}")
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self.poller = zmq.Poller()
        self.poller.register(self.shell, zmq.POLLIN)
        self.poller.register(self.iopub, zmq.POLLIN)

    def send(self, msg_type: str, content: dict[str, Any]) -> str:
        """Sign and send a shell request; return its msg_id."""
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "username": "aione",
            "session": self.session,
            "date": datetime.datetime.now(datetime.UTC).isoformat(),
            "version": PROTOCOL_VERSION,
        }
        parts = [json.dumps(p).encode() for p in (header, {}, {}, content)]
        mac = hmac.new(self.key, digestmod=hashlib.sha256)
        for part in parts:
            mac.update(part)
        self.shell.send_multipart([DELIM, mac.hexdigest().encode(), *parts])
        return msg_id

    def poll(self, timeout_s: float) -> list[tuple[str, dict[str, Any], str, bytes]]:
        """Messages that arrive within ``timeout_s``: (channel, header, parent msg_id, content)."""
        events = dict(self.poller.poll(max(0, int(timeout_s * 1000))))
        messages = []
        for sock, channel in ((self.iopub, "iopub"), (self.shell, "shell")):
            if sock not in events:
                continue
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                parsed = _parse(frames)
                if parsed:
                    messages.append((channel, *parsed))
        return messages

    def exit_detail(self) -> str | None:
        """None while the kernel lives, else how it ended."""
        code = self.proc.poll()
        if code is None:
            return None
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return f"the kernel {how}"

    def stderr_tail(self) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 1500))
                return f.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def state(self) -> str:
        """The kernel's process state letter from /proc (R, S, D, T, Z), or '?'."""
        for pid, state, _, _ in _processes():
            if pid == self.proc.pid:
                return state.decode()
        return "?"

    def interrupt(self) -> None:
        """Stop what the cell started, then interrupt the kernel.

        The kernel's process group is frozen (so a fork bomb cannot outrun
        us), every member but the kernel is killed, and the kernel gets
        SIGINT (KeyboardInterrupt) once it runs again.
        """
        pid = self.proc.pid
        _killpg(pid, signal.SIGSTOP)
        for member in group_members(pid):
            if member != pid:
                _kill(member, signal.SIGKILL)
        _killpg(pid, signal.SIGCONT)
        _interrupt_main_thread(pid)
        reap_orphans(exclude={pid})

    def kill(self) -> None:
        _killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


#: tgkill(2) numbers: a signal for the main thread itself (its id is the pid).
_TGKILL = {"x86_64": 234, "aarch64": 131}


def _interrupt_main_thread(pid: int) -> None:
    """SIGINT to the kernel's main thread, where Python raises KeyboardInterrupt.

    A signal sent to the process may land on one of ipykernel's other threads,
    and then a main thread blocked in a wait notices it only when the wait ends.
    """
    number = _TGKILL.get(os.uname().machine)
    if number is not None:
        try:
            if ctypes.CDLL(None, use_errno=True).syscall(number, pid, pid, signal.SIGINT) == 0:
                return
        except (OSError, AttributeError):
            pass
    _kill(pid, signal.SIGINT)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def _processes() -> list[tuple[int, bytes, int, int]]:
    """(pid, state, parent pid, process group) of every process we can see."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
            found.append((int(entry), fields[0], int(fields[1]), int(fields[2])))
        except (OSError, IndexError, ValueError):
            continue
    return found


def group_members(pgid: int) -> list[int]:
    """Processes in process group ``pgid``."""
    return [pid for pid, _, _, group in _processes() if group == pgid]


def reap_orphans(exclude: set[int]) -> None:
    """Reap dead orphans handed to us (PID 1), so they stop holding pids; not kernels."""
    me = os.getpid()
    for pid, state, parent, _ in _processes():
        if parent == me and state == b"Z" and pid not in exclude:
            try:
                os.waitpid(pid, os.WNOHANG)
            except OSError:
                pass


def _parse(frames: list[bytes]) -> tuple[dict[str, Any], str, bytes] | None:
    try:
        at = frames.index(DELIM)
        header = json.loads(frames[at + 2])
        parent = json.loads(frames[at + 3])
        return header, str(parent.get("msg_id", "")), frames[at + 5]
    except (ValueError, IndexError, TypeError, AttributeError):
        return None


def wait_ready(kernel: Kernel, timeout_s: float) -> None:
    """Return once the kernel answers on shell and iopub reaches us."""
    deadline = time.monotonic() + timeout_s
    got_reply = got_iopub = False
    last_sent = 0.0
    while not (got_reply and got_iopub):
        exited = kernel.exit_detail()
        if exited:
            raise KernelError("kernel_failed", f"{exited} while starting: {kernel.stderr_tail()}")
        now = time.monotonic()
        if now > deadline:
            raise KernelError(
                "kernel_failed", f"the kernel did not answer within {timeout_s:.0f} s"
            )
        if not got_iopub and now - last_sent > 0.25:
            kernel.send("kernel_info_request", {})
            last_sent = now
        for channel, header, _, _ in kernel.poll(0.05):
            if channel == "iopub":
                got_iopub = True
            elif header.get("msg_type") == "kernel_info_reply":
                got_reply = True


class Budget:
    """Bytes of output one notebook may still keep."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.dropped = 0

    def take(self, size: int) -> int:
        """Admit up to ``size`` bytes; return how many were admitted."""
        allowed = max(0, min(size, self.limit - self.used))
        self.used += allowed
        self.dropped += size - allowed
        return allowed


def _short(text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more]"


class CellRun:
    """Outputs of one cell, built from iopub messages the way nbclient does."""

    def __init__(self, index: int, budget: Budget, displays: dict[str, list[dict[str, Any]]]):
        self.index = index
        self.execution_count: int | None = None
        self.outputs: list[dict[str, Any]] = []
        self.budget = budget
        self.displays = displays
        self.clear_pending = False
        self.dropped = 0
        self.dropped_stderr = False
        self.errors = 0

    def result(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "execution_count": self.execution_count,
            "outputs": self.outputs,
        }

    def _drop(self, size: int) -> None:
        self.dropped += size
        self.budget.dropped += size

    def _add(self, out: dict[str, Any]) -> None:
        if self.clear_pending:
            self._clear()
        last = self.outputs[-1] if self.outputs else None
        if (
            out["output_type"] == "stream"
            and last is not None
            and last["output_type"] == "stream"
            and last["name"] == out["name"]
        ):
            last["text"] += out["text"]
        else:
            self.outputs.append(out)

    def _clear(self) -> None:
        # Errors stay: a learner's hook must not erase a failed test.
        self.outputs[:] = [o for o in self.outputs if o["output_type"] == "error"]
        self.clear_pending = False

    def handle(self, msg_type: str, raw: bytes) -> None:
        """Turn one iopub message of this cell into outputs."""
        if msg_type == "error":
            self._error(raw)
            return
        if msg_type not in {"stream", "display_data", "execute_result", "update_display_data"}:
            if msg_type == "clear_output":
                content = _loads(raw)
                if content.get("wait"):
                    self.clear_pending = True
                else:
                    self._clear()
            return
        if msg_type == "execute_result":
            self._result(raw)
            return
        if self.budget.used >= self.budget.limit:
            self._drop(len(raw))
            self.dropped_stderr |= msg_type == "stream" and b'"stderr"' in raw[:4096]
            return
        if len(raw) > 2 * self.budget.limit:  # too big to parse: keep what fits, if we can
            prefix = _stream_prefix(raw, self.budget.limit - self.budget.used)
            kept = len(prefix[1]) if msg_type == "stream" and prefix else 0
            self._drop(len(raw) - kept)
            self.dropped_stderr |= b'"stderr"' in raw[:4096]
            if prefix and kept:
                self.budget.used += kept
                self._add({"output_type": "stream", "name": prefix[0], "text": prefix[1]})
            return
        content = _loads(raw)
        if msg_type == "stream":
            text = str(content.get("text", ""))
            kept = self.budget.take(len(text))
            self.dropped += len(text) - kept
            self.dropped_stderr |= kept < len(text) and content.get("name") == "stderr"
            if kept:
                self._add(
                    {
                        "output_type": "stream",
                        "name": content.get("name", "stdout"),
                        "text": text[:kept],
                    }
                )
            return
        kept = self.budget.take(len(raw))
        if kept < len(raw):
            self.dropped += len(raw) - kept
            return
        self._display(msg_type, content)

    def _display(self, msg_type: str, content: dict[str, Any]) -> None:
        display_id = (content.get("transient") or {}).get("display_id")
        data, metadata = content.get("data", {}), content.get("metadata", {})
        if msg_type == "update_display_data":
            for out in self.displays.get(str(display_id), []):
                out["data"], out["metadata"] = data, metadata
            return
        out = {"output_type": "display_data", "data": data, "metadata": metadata}
        if display_id:
            self.displays.setdefault(str(display_id), []).append(out)
        self._add(out)

    def _result(self, raw: bytes) -> None:
        # Small results are always kept: a test cell's partial credit is one.
        # A dropped one becomes an error, so that it can never count as a pass.
        if len(raw) > RESULT_KEEP and self.budget.used + len(raw) > self.budget.limit:
            self._drop(len(raw))
            self.add_error("OutputTooLarge", f"a result of {len(raw)} bytes was dropped", [])
            return
        content = _loads(raw)
        self.budget.used += len(raw)
        self._add(
            {
                "output_type": "execute_result",
                "data": content.get("data", {}),
                "metadata": content.get("metadata", {}),
                "execution_count": content.get("execution_count"),
            }
        )

    def _error(self, raw: bytes) -> None:
        if len(raw) > RESULT_LIMIT:
            content: dict[str, Any] = {"ename": "Error", "evalue": f"[{len(raw)} bytes]"}
        else:
            content = _loads(raw)
        self.add_error(
            str(content.get("ename", "Error")),
            str(content.get("evalue", "")),
            [str(line) for line in content.get("traceback", [])],
        )

    def add_error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        """Append an error output, shortened to at most ~64 KiB in all."""
        self.errors += 1
        kept: list[str] = []
        size = 0
        for line in reversed(traceback[-200:]):  # the end of a traceback says the most
            size += len(line)
            if size > 4 * ERROR_TEXT_LIMIT:
                break
            kept.insert(0, _short(line))
        self._add(
            {
                "output_type": "error",
                "ename": _short(ename, 200),
                "evalue": _short(evalue),
                "traceback": kept,
            }
        )

    def finish(self, reply: dict[str, Any] | None, limit: int) -> None:
        """Record the reply (nbgrader's Execute.on_cell_executed) and the truncation note."""
        if reply is not None:
            self.execution_count = reply.get("execution_count")
            if reply.get("status") == "error":
                ename = str(reply.get("ename", "Error"))
                if not any(
                    o["output_type"] == "error" and o["ename"] == ename for o in self.outputs
                ):
                    traceback = [str(x) for x in reply.get("traceback") or []] or [
                        "ERROR: An error occurred while showtraceback was disabled"
                    ]
                    self.add_error(ename, str(reply.get("evalue", "")), traceback)
        if self.dropped:
            note = (
                f"\n[aione: output truncated: this notebook's output passed {limit} bytes; "
                f"{self.dropped} bytes of this cell were dropped]\n"
            )
            # On stderr when stderr was cut: nbgrader fails a test cell that wrote to it.
            name = "stderr" if self.dropped_stderr else "stdout"
            self.outputs.append({"output_type": "stream", "name": name, "text": note})


def _stream_prefix(raw: bytes, keep: int) -> tuple[str, str] | None:
    """(name, first ``keep`` characters of the text) of a stream message too big to parse."""
    head = raw[: keep + 4096]
    name = re.search(rb'"name":\s*"(stdout|stderr)"', head)
    start = re.search(rb'"text":\s*"', head)
    if not (name and start) or keep <= 0:
        return None
    body = head[start.end() :].decode("utf-8", "ignore")
    for cut in range(8):  # step back over an escape sequence cut in half
        try:
            text = json.loads(f'"{body[: len(body) - cut]}"')
        except ValueError:
            continue
        return name.group(1).decode(), str(text)[:keep]
    return None


def _loads(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def execute_cell(kernel: Kernel, source: str, run: CellRun, job: dict[str, Any]) -> str:
    """Run one cell; return ``ok``, ``timeout`` (interrupted, went on) or ``unresponsive``.

    Raises KernelError when the kernel dies.
    """
    msg_id = kernel.send(
        "execute_request",
        {
            "code": source,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": False,
        },
    )
    deadline = time.monotonic() + float(job["cell_timeout"])
    interrupted = False
    reply: dict[str, Any] | None = None
    idle = False
    idle_deadline = 0.0
    last_interrupt = 0.0
    errors_before = 0
    while not (reply is not None and idle):
        now = time.monotonic()
        if reply is not None and now > idle_deadline:
            break
        if now >= deadline and reply is None:
            if interrupted:
                run.add_error("CellTimeoutError", "", _timeout_traceback(job, unresponsive=True))
                return "unresponsive"
            interrupted = True
            deadline = now + float(job["interrupt_grace"])
        if interrupted and reply is None and now - last_interrupt >= INTERRUPT_EVERY_S:
            # Again until the cell reports an error: a KeyboardInterrupt raised in
            # an at-fork or __del__ hook is swallowed ("Exception ignored in").
            # Not after: one more would land in the kernel's own reply code.
            if not last_interrupt:
                errors_before = run.errors
            if run.errors == errors_before:
                kernel.interrupt()
            last_interrupt = now
        for channel, header, parent, raw in kernel.poll(min(0.2, max(deadline - now, 0.0))):
            msg_type = header.get("msg_type", "")
            if channel == "shell":
                if parent == msg_id and msg_type == "execute_reply":
                    reply = _loads(raw)
                    idle_deadline = time.monotonic() + IDLE_AFTER_REPLY_S
            elif msg_type == "update_display_data":
                run.handle(msg_type, raw)
            elif parent == msg_id:
                if msg_type == "status":
                    idle = idle or _loads(raw).get("execution_state") == "idle"
                else:
                    run.handle(msg_type, raw)
        exited = kernel.exit_detail() if reply is None else None
        if exited:
            raise KernelError("kernel_died", exited)
    run.finish(reply, run.budget.limit)
    if interrupted:
        run.add_error("CellTimeoutError", "", _timeout_traceback(job, unresponsive=False))
        return "timeout"
    return "ok"


def _timeout_traceback(job: dict[str, Any], unresponsive: bool) -> list[str]:
    text = f"CellTimeoutError: the cell ran past {job['cell_timeout']} s"
    if unresponsive:
        text += " and did not stop when interrupted; the rest of the notebook was not run"
    return [f"\x1b[0;31m{text}\x1b[0m"]


def run_notebook(
    kernel: Kernel | KernelError, notebook: dict[str, Any], job: dict[str, Any]
) -> dict[str, Any]:
    """Execute the cells of one notebook; never raises."""
    budget = Budget(int(job["output_limit"]))
    result: dict[str, Any] = {
        "name": notebook["name"],
        "status": "ok",
        "detail": "",
        "truncated_bytes": 0,
        "timed_out_cells": [],
        "cells": [],
    }
    if isinstance(kernel, KernelError):
        result.update(status=kernel.status, detail=kernel.detail)
        return result
    displays: dict[str, list[dict[str, Any]]] = {}
    try:
        wait_ready(kernel, float(job["startup_timeout"]))
        for cell in notebook["cells"]:
            if not str(cell["source"]).strip():
                continue
            run = CellRun(int(cell["index"]), budget, displays)
            result["cells"].append(run)
            outcome = execute_cell(kernel, str(cell["source"]), run, job)
            if outcome != "ok":
                result["timed_out_cells"].append(run.index)
                result["status"] = "timeout"
            if outcome == "unresponsive":
                result["status"] = "unresponsive"
                result["detail"] = (
                    f"cell {run.index} did not stop when interrupted "
                    f"(kernel state {kernel.state()}, {len(group_members(kernel.proc.pid))} processes)"
                )
                break
    except KernelError as err:
        result.update(status=err.status, detail=err.detail)
    finally:
        kernel.kill()
    result["cells"] = [c.result() for c in result["cells"]]
    result["truncated_bytes"] = budget.dropped
    if result["status"] == "timeout":
        result["detail"] = f"cells {result['timed_out_cells']} ran past {job['cell_timeout']} s"
    return result


def write_files(workdir: Path, files: dict[str, str]) -> None:
    """Write the submission's other files (data_gen.py, ...) into the work folder."""
    for name, data in files.items():
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts:
            continue
        path = workdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))


def write_seed_files(files: dict[str, str]) -> None:
    """Write prebuilt caches (matplotlib's font list) under /tmp, before any cell runs."""
    for name, data in files.items():
        path = PurePosixPath(name)
        if not path.is_absolute() or path.parts[1:2] != ("tmp",) or ".." in path.parts:
            continue
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(data))


def oom_kills() -> int:
    """Out-of-memory kills in this container's memory cgroup (v1 or v2)."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def start_kernel(name: str, workdir: Path, runtime: Path, number: int) -> Kernel | KernelError:
    try:
        return Kernel(name, workdir, runtime, number)
    except KernelError as err:
        return err
    except OSError as err:
        return KernelError("kernel_failed", f"the kernel could not start: {err}")


def main(argv: list[str]) -> int:
    harden()
    start = json.loads(argv[1])
    workdir = Path(start["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    runtime = Path(start.get("runtime_dir", "/tmp"))
    kernels: list[str] = start["kernels"]
    first = start_kernel(kernels[0], workdir, runtime, 0) if kernels else None
    job = json.loads(sys.stdin.buffer.read())
    key = bytes.fromhex(job["key"])
    write_files(workdir, job["files"])
    write_seed_files(job.get("seed_files", {}))
    results = []
    for number, notebook in enumerate(job["notebooks"]):
        if number == 0 and first is not None:
            kernel = first
        else:
            kernel = start_kernel(notebook["kernel"], workdir, runtime, number)
        results.append(run_notebook(kernel, notebook, job))
    body = json.dumps({"notebooks": results, "oom_kills": oom_kills()}, ensure_ascii=False).encode()
    mac = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
    out = sys.stdout.buffer
    out.write(b"AIONE-RESULT " + mac + b" " + body + b"\n")
    out.flush()
    return 0


if __name__ == "__main__":
    os._exit(main(sys.argv))
