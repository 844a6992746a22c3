"""WebSocket consumer for a job's live progress.

On connect it sends the job's current state from the database, then relays
progress events from the channel layer. It also follows the job row itself:
with the embedded default the workers run in another process and the
in-memory channel layer cannot reach this one, so the row is polled (cheaply,
by primary key) and a new snapshot is sent whenever it changed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from media_analysis.jobs.progress import job_group, job_snapshot
from media_analysis.models import AnalysisJob
from media_analysis.web.permissions import can_view_jobs

FOLLOW_INTERVAL_SECONDS = 1.0
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


@database_sync_to_async
def _load_snapshot(job_id: int) -> dict[str, Any] | None:
    job = AnalysisJob.objects.filter(pk=job_id).first()
    return job_snapshot(job) if job else None


@database_sync_to_async
def _allowed(user) -> bool:
    # Following a job is reading it: the jobs' view rule, as on its page and in the API.
    return can_view_jobs(user)


class JobProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        self.group = job_group(self.job_id)
        self.follower: asyncio.Task | None = None
        self.last_sent: str | None = None
        user = self.scope.get("user")
        if user is None or not await _allowed(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        snapshot = await _load_snapshot(self.job_id)
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._push("snapshot", snapshot)
        if snapshot["is_active"]:
            self.follower = asyncio.create_task(self._follow_row())

    async def disconnect(self, code: int) -> None:
        if self.follower is not None:
            self.follower.cancel()
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs) -> None:
        # The page may ask for a fresh snapshot (after a reconnect, say).
        if isinstance(content, dict) and content.get("type") == "refresh":
            snapshot = await _load_snapshot(self.job_id)
            if snapshot is not None:
                await self._push("snapshot", snapshot)

    async def job_progress(self, event: dict[str, Any]) -> None:
        await self._push("progress", event["job"])

    async def _push(self, kind: str, snapshot: dict[str, Any]) -> None:
        stamp = f"{snapshot['updated_at']}|{snapshot['status']}|{snapshot['processed']}"
        if kind != "snapshot" and stamp == self.last_sent:
            return
        self.last_sent = stamp
        finished = not snapshot["is_active"]
        await self.send_json({"type": "finished" if finished else kind, "job": snapshot})

    async def _follow_row(self) -> None:
        try:
            while True:
                await asyncio.sleep(FOLLOW_INTERVAL_SECONDS)
                snapshot = await _load_snapshot(self.job_id)
                if snapshot is None:
                    return
                await self._push("progress", snapshot)
                if not snapshot["is_active"]:
                    return
        except asyncio.CancelledError:
            pass
