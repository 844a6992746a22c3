"""The offline demo: a land whose media are served from 127.0.0.1 and analysed
through the same Huey task path as any other job.

The files in ``demo_files/`` are real photos from scikit-learn's samples,
resized and re-encoded, one of them captioned, plus broken and hostile files; ``manifest.json`` says
what each one should end as, so the demo checks its own result.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.db import transaction

from lands.models import Domain, Expression, Land, Media

DEMO_FILES = Path(__file__).resolve().parent / "demo_files"
DEMO_LAND_NAME = "medianalyse demo"
OVERSIZED_NAME = "oversized.jpg"
MISSING_NAME = "missing.jpg"
_PAGES = (
    ("news.demo.invalid", 0, 5),
    ("blog.demo.invalid", 1, 3),
    ("forum.demo.invalid", 2, 1),
)


@dataclass(frozen=True)
class DemoItem:
    file: str
    type: str
    expect: str
    error_class: str | None = None
    text: str = ""  # the caption the picture carries, read when the job has OCR


def manifest() -> list[DemoItem]:
    raw = json.loads((DEMO_FILES / "manifest.json").read_text())
    return [
        DemoItem(item["file"], item["type"], item["expect"], item.get("error_class"), item.get("text", ""))
        for item in raw
    ]


def _handler_for(max_file_size: int) -> type[BaseHTTPRequestHandler]:
    class DemoHandler(BaseHTTPRequestHandler):
        server_version = "medianalyse-demo"

        def log_message(self, format: str, *args) -> None:  # keep the demo's output readable
            return

        def do_GET(self) -> None:
            name = self.path.lstrip("/").split("?", 1)[0]
            if name == OVERSIZED_NAME:
                # Larger than the cap and without Content-Length: the downloader must stop reading by itself.
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                block = b"\xff" * 65536
                sent = 0
                try:
                    while sent <= max_file_size + len(block):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                        sent += len(block)
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return
            path = DEMO_FILES / name
            if name in {"", "manifest.json"} or "/" in name or not path.is_file():
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            body = path.read_bytes()
            content_type = {
                ".jpg": "image/jpeg",
                ".png": "image/png",
                ".gif": "image/gif",
                ".webp": "image/webp",
                ".wav": "audio/wav",
            }.get(path.suffix, "application/octet-stream")
            range_header = self.headers.get("Range", "")
            if range_header.startswith("bytes=") and path.suffix == ".wav":
                start_text, _, end_text = range_header[6:].partition("-")
                start = int(start_text or 0)
                end = min(int(end_text) if end_text else len(body) - 1, len(body) - 1)
                self.send_response(HTTPStatus.PARTIAL_CONTENT)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
                body = body[start : end + 1]
            else:
                self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return DemoHandler


@contextmanager
def serve_demo_files(max_file_size: int) -> Iterator[str]:
    """Serve the demo files on an ephemeral port of 127.0.0.1; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(max_file_size))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="demo-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@transaction.atomic
def create_demo_land(base_url: str) -> Land:
    """(Re)create the demo land: three sites whose pages show the demo files."""
    Land.objects.filter(name=DEMO_LAND_NAME).delete()
    land = Land.objects.create(
        name=DEMO_LAND_NAME, description="Demo corpus served from 127.0.0.1 by `manage.py demo`", lang="en"
    )
    items = manifest()
    expressions = []
    for domain_name, depth, relevance in _PAGES:
        domain, _ = Domain.objects.get_or_create(name=domain_name)
        expressions.append(
            Expression.objects.create(
                land=land,
                domain=domain,
                url=f"https://{domain_name}/gallery",
                title=f"Gallery on {domain_name}",
                depth=depth,
                relevance=relevance,
                http_status="200",
            )
        )
    Media.objects.bulk_create(
        Media(expression=expressions[i % len(expressions)], url=f"{base_url}/{item.file}", type=item.type)
        for i, item in enumerate(items)
    )
    return land
