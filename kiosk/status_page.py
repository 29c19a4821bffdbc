"""A tiny status page on 127.0.0.1 (state, queue depth, online, recent results) via http.server; with a
`kiosk.screen.Screen` it also serves the kiosk screen (the status page then lives at /status)."""
from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="2"><title>Kiosk</title>
<style>body{{font-family:sans-serif;margin:2em}}.ok{{color:#080}}.bad{{color:#b00}}td{{padding:.2em .8em}}</style>
</head><body><h1>{state}</h1><p>{prompt}</p>
<p>待上传 queue: {queue_depth} · {online} · {manifest}</p><table>{rows}</table></body></html>"""


def render(status: dict) -> str:
    """The HTML page for a status snapshot (everything escaped)."""
    rows = "".join(
        f'<tr class="{"ok" if r["ok"] else "bad"}"><td>{html.escape(r["at"][11:19])}</td>'
        f'<td>{html.escape(r["message"])}</td><td>{html.escape(r["name"] or "")}</td>'
        f'<td>{html.escape(r["lesson"] or "")}</td></tr>' for r in status.get("results", []))
    return _PAGE.format(
        state=html.escape(str(status.get("state", ""))), prompt=html.escape(status.get("prompt", "")),
        queue_depth=int(status.get("queue_depth", 0)),
        online=("设备未激活或密钥错误 refused by the server" if status.get("refused")
                else "在线 online" if status.get("online") else "离线 offline"),
        manifest="名单已加载 roster loaded" if status.get("manifest_loaded") else "无名单 no roster", rows=rows)


class StatusServer:
    """Serves GET / (HTML) and GET /status.json from a snapshot callable, on loopback only."""

    def __init__(self, snapshot: Callable[[], dict], port: int, host: str = "127.0.0.1", screen=None):
        snapshot_fn = snapshot
        self.screen = screen
        # With the kiosk screen, "/" is the screen and the technician's page moves to "/status".
        status_path = "/status" if screen is not None else "/"

        class Handler(BaseHTTPRequestHandler):
            """GET / and GET /status.json (and the screen's routes when there is one)."""

            def do_GET(self):  # noqa: N802 - http.server's naming
                """Answer with the page, the JSON, or 404."""
                path = self.path.split("?")[0]
                if screen is not None and path != status_path and screen.get(self, path):
                    return
                if path == "/status.json":
                    body, kind = json.dumps(snapshot_fn(), ensure_ascii=False).encode(), "application/json"
                elif path == status_path:
                    body, kind = render(snapshot_fn()).encode(), "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # noqa: N802 - http.server's naming
                """The screen's PIN pad; 404 otherwise."""
                if screen is None or not screen.post(self, self.path.split("?")[0]):
                    self.send_error(404)

            def log_message(self, format, *args):  # noqa: A002
                """Silent: the terminal belongs to the people at the kiosk."""

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="status-page", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return self.httpd.server_address[1]

    def start(self) -> StatusServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self.screen is not None:
            self.screen.stopping.set()  # ends the open event streams
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
