"""WebSocket consumer for a job's live progress.

On connect it sends the job's current state from the database, then relays
progress events from the channel layer until the job is settled: ended, and no
chunk of it still running (after a cancel, the chunks already claimed finish and
their counts still arrive). It also follows the job row itself:
with the embedded default the workers run in another process and the
in-memory channel layer cannot reach this one, so the row is polled (cheaply,
by primary key) and a new snapshot is sent whenever it changed.

Refusals come after the handshake is accepted: a socket closed before it is
accepted reaches the browser as a failed handshake with the code 1006, while
the page (static/medianalyse/progress.js) needs 4403 or 4404 to stop retrying
and fall back to the API. Reading progress follows the jobs' view rule
(media_analysis.web.permissions).

The page only ever sends ``{"type": "refresh"}``. Anything else is ignored, and
frames nothing legitimate would send (binary, oversized) close the socket,
never with a traceback.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from lands.models import ID_MAX
from media_analysis.jobs.progress import job_group, job_snapshot
from media_analysis.models import AnalysisJob
from media_analysis.web.permissions import can_view_jobs

FOLLOW_INTERVAL_SECONDS = 1.0
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# Frames nothing legitimate sends. Servers may close only with 1000 or an application code (3000-4999;
# autobahn, under Daphne, refuses RFC 6455's 1003 and 1009), so these follow 4403 and 4404 in borrowing
# the HTTP status: 415 for data of a type the page never sends, 413 for a message too large.
CLOSE_UNSUPPORTED_DATA = 4415
CLOSE_TOO_BIG = 4413
# The one message the page sends is {"type": "refresh"}; anything much longer is not from it.
MAX_FRAME_CHARS = 1024


@database_sync_to_async
def _load_snapshot(job_id: int) -> dict[str, Any] | None:
    job = AnalysisJob.objects.filter(pk=job_id).first()
    return job_snapshot(job) if job else None


@database_sync_to_async
def _allowed(user: Any) -> bool:
    return can_view_jobs(user)


def _is_refresh(text: str) -> bool:
    try:
        content = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the decoder goes
        return False
    return isinstance(content, dict) and content.get("type") == "refresh"


class JobProgressConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        self.group = job_group(self.job_id)
        self.follower: asyncio.Task | None = None
        self.last_sent: str | None = None
        # Until the checks pass, nothing is read from the client nor sent to it.
        self.following = False
        await self.accept()
        user = self.scope.get("user")
        if user is None or not await _allowed(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # An id no row can hold is no job (the query would overflow the column).
        snapshot = await _load_snapshot(self.job_id) if 0 < self.job_id <= ID_MAX else None
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.following = True
        await self._push("snapshot", snapshot)
        if not snapshot["settled"]:
            self.follower = asyncio.create_task(self._follow_row())

    async def disconnect(self, code: int) -> None:
        await self._stop_following()

    async def _stop_following(self) -> None:
        if self.follower is not None:
            self.follower.cancel()
            self.follower = None
        if self.following:
            self.following = False
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _end(self, code: int) -> None:
        # Frames already on their way are then ignored (receive reads nothing once not following).
        await self._stop_following()
        await self.close(code=code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.following:
            return
        if text_data is None:
            await self._end(CLOSE_UNSUPPORTED_DATA)
            return
        if len(text_data) > MAX_FRAME_CHARS:
            await self._end(CLOSE_TOO_BIG)
            return
        # The page may ask for a fresh snapshot (after a reconnect, say).
        if _is_refresh(text_data):
            snapshot = await _load_snapshot(self.job_id)
            if snapshot is not None:
                await self._push("snapshot", snapshot)

    async def job_progress(self, event: dict[str, Any]) -> None:
        await self._push("progress", event["job"])

    async def _push(self, kind: str, snapshot: dict[str, Any]) -> None:
        stamp = (
            f"{snapshot['updated_at']}|{snapshot['status']}|{snapshot['processed']}|{snapshot.get('running_chunks')}"
        )
        if kind != "snapshot" and stamp == self.last_sent:
            return
        self.last_sent = stamp
        # A cancelled job's figures still move while its running chunks end: "finished" only once they have.
        finished = snapshot.get("settled", not snapshot["is_active"])
        await self.send(text_data=json.dumps({"type": "finished" if finished else kind, "job": snapshot}))

    async def _follow_row(self) -> None:
        try:
            while True:
                await asyncio.sleep(FOLLOW_INTERVAL_SECONDS)
                snapshot = await _load_snapshot(self.job_id)
                if snapshot is None:
                    return
                await self._push("progress", snapshot)
                if snapshot.get("settled", not snapshot["is_active"]):
                    return
        except asyncio.CancelledError:
            pass
