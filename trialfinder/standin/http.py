"""The HTTP plumbing of the stand-in ClinicalTrials.gov API (NOT the real registry; see ``server.py``): a threaded
HTTP/1.1 server on 127.0.0.1 and its request handler, which applies the stand-in's switchable faults.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from trialfinder.standin.query import HTML_TYPE, Response, fault_response, nginx_page

API_PREFIX = "/api/v2"


class StandinServer(ThreadingHTTPServer):
    """A threaded HTTP server that knows its stand-in (``fake``) and can drop every open connection."""

    daemon_threads = True
    fake: Any  # the FakeCtGov serving (typed loosely: server.py imports this module)

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
            self.fake.connections_accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # the client went away (e.g. it timed out during a "delay" fault)
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "trialfinder-standin/1.0"
    timeout = 60
    server: StandinServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        path = split.path
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            path = path[len(API_PREFIX):]
            fault = fake._take_fault(path)
            resp = fake._respond(path, split.query, params) if not fault or fault.kind in (
                "delay", "truncated") else None
        else:  # outside the API: nginx 404
            fault = fake._take_fault(path)
            resp = Response(404, HTML_TYPE, nginx_page(404))
        if fault is not None:
            if fault.kind == "reset":
                fake._log("GET", path, params, 0)
                self._reset()
                return
            resp = fault_response(fault.kind, fault.retry_after, resp)
        assert resp is not None
        fake._log("GET", path, params, resp.status)
        if fault is not None and fault.kind == "delay":  # the answer was computed on arrival
            fake._stopping.wait(fault.delay_s)
        if path == "/studies" and resp.status == 200 and fault is None:
            # the page is computed; the data moves before the client has it, so its next request sees the change
            # (after the send, a read-ahead client's next request could be answered before the hook ran)
            fake._page_served()
        self._send(resp)

    def _reset(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()  # really closed (RST) once rfile is closed in finish()

    def _send(self, resp: Response) -> None:
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.ctype)
            self.send_header("Content-Length", str(len(resp.body)))
            for name, value in resp.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(resp.body)
        except OSError:
            self.close_connection = True
