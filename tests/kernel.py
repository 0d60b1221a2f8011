"""Run code in a learner's kernel the way JupyterLab does: REST to start a
kernel, then the kernel websocket through the public proxy."""

from __future__ import annotations

import json
import uuid

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.hubproc import HubProcess


async def run_code(hub: HubProcess, user: str, token: str, code: str, timeout: float = 60) -> str:
    """Execute ``code`` in a new kernel of ``user``'s server; return the text result."""
    status, body = hub.request("POST", f"/user/{user}/api/kernels", token, {"name": "python3"})
    assert status == 201, (status, body)
    kernel_id = json.loads(body)["id"]
    url = f"ws://127.0.0.1:{hub.port}/user/{user}/api/kernels/{kernel_id}/channels"
    req = HTTPRequest(url, headers={"Authorization": f"token {token}"}, request_timeout=timeout)
    conn = await websocket_connect(req)
    msg_id = uuid.uuid4().hex
    conn.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": user,
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "content": {
                    "code": code,
                    "silent": False,
                    "store_history": False,
                    "user_expressions": {},
                    "allow_stdin": False,
                },
            }
        )
    )
    try:
        while True:
            raw = await conn.read_message()
            if raw is None:
                raise ConnectionError("kernel websocket closed")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind in ("execute_result", "display_data"):
                return str(msg["content"]["data"]["text/plain"])
            if kind == "stream":
                return str(msg["content"]["text"]).strip()
            if kind == "error":
                raise RuntimeError(f"{msg['content']['ename']}: {msg['content']['evalue']}")
    finally:
        conn.close()
        hub.request("DELETE", f"/user/{user}/api/kernels/{kernel_id}", token)
