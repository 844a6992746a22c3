"""The progress socket: who may follow a job, how refusals reach the page, and what it makes of stray frames."""

import json
import logging

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.jobs.progress import job_group, job_snapshot, publish_job_progress
from media_analysis.models import JobStatus
from medianalyse_site.asgi import application
from tests.factories import make_expression, make_land, make_media, make_staff

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def job(db):
    land = make_land()
    for _ in range(3):
        make_media(make_expression(land))
    job = jobs.create_job(land, JobParameters())
    jobs.plan_job(job.pk, chunk_size=2)
    job.refresh_from_db()
    return job


def _cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _connect(job_id, cookie=None, origin=b"http://testserver", host=b"testserver"):
    headers = [(b"origin", origin), (b"host", host)]
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, f"/ws/jobs/{job_id}/", headers=headers)
    connected, code = await communicator.connect(timeout=3)
    return communicator, connected, code


async def _refused_with(communicator, connected) -> int:
    # Accepted first, then closed: a socket closed during the handshake reaches a browser as 1006, not the code.
    assert connected
    message = await communicator.receive_output(timeout=3)
    assert message["type"] == "websocket.close"
    # Nothing is sent before the refusal, and a frame sent after it is not read.
    await communicator.send_to(text_data=json.dumps({"type": "refresh"}))
    assert await communicator.receive_nothing(timeout=0.2)
    return message["code"]


async def _followed(communicator, connected, job_id) -> None:
    assert connected
    first = await communicator.receive_json_from(timeout=3)
    assert (first["type"], first["job"]["id"]) == ("snapshot", job_id)


async def test_anonymous_connection_is_refused(job):
    communicator, connected, _ = await _connect(job.pk)
    assert await _refused_with(communicator, connected) == 4403
    await communicator.disconnect()


async def test_non_staff_connection_is_refused(job, plain_user):
    cookie = await sync_to_async(_cookie_for)(plain_user)
    communicator, connected, _ = await _connect(job.pk, cookie)
    assert await _refused_with(communicator, connected) == 4403
    await communicator.disconnect()


@pytest.mark.parametrize(
    "permissions",
    [
        (),  # staff status alone
        ("lands.view_land", "lands.view_media"),  # the corpus, not its jobs
    ],
)
async def test_staff_without_the_jobs_view_rule_is_refused(job, permissions):
    user = await sync_to_async(make_staff)("staff", *permissions)
    cookie = await sync_to_async(_cookie_for)(user)
    communicator, connected, _ = await _connect(job.pk, cookie)
    assert await _refused_with(communicator, connected) == 4403
    await communicator.disconnect()


@pytest.mark.parametrize("permission", ["media_analysis.view_analysisjob", "media_analysis.run_analysis"])
async def test_the_view_permission_on_jobs_or_run_analysis_may_follow(job, permission):
    user = await sync_to_async(make_staff)("follower", permission)
    cookie = await sync_to_async(_cookie_for)(user)
    communicator, connected, _ = await _connect(job.pk, cookie)
    await _followed(communicator, connected, job.pk)
    await communicator.disconnect()


async def test_foreign_origin_is_refused(job, admin_user):
    cookie = await sync_to_async(_cookie_for)(admin_user)
    communicator, connected, _ = await _connect(job.pk, cookie, origin=b"https://evil.example")
    assert not connected
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        (b"http://testserver:9999", b"testserver"),  # the same host on another port
        (b"http://testserver", b"testserver:8000"),
        (b"https://testserver", b"testserver"),  # another scheme
        (b"null", b"testserver"),
        (b"http://evil.example", b"evil.example"),  # a host outside ALLOWED_HOSTS
    ],
)
async def test_only_this_sites_own_origin_may_connect(job, admin_user, origin, host):
    cookie = await sync_to_async(_cookie_for)(admin_user)
    communicator, connected, _ = await _connect(job.pk, cookie, origin=origin, host=host)
    assert not connected
    await communicator.disconnect()


async def test_the_origin_may_name_the_port_the_site_is_served_on(job, admin_user):
    cookie = await sync_to_async(_cookie_for)(admin_user)
    communicator, connected, _ = await _connect(
        job.pk, cookie, origin=b"http://testserver:8000", host=b"testserver:8000"
    )
    assert connected
    await communicator.disconnect()


@pytest.mark.parametrize("job_id", [99999, 2**63, 10**30])
async def test_unknown_job_is_refused(admin_user, job_id):
    cookie = await sync_to_async(_cookie_for)(admin_user)
    communicator, connected, _ = await _connect(job_id, cookie)
    assert await _refused_with(communicator, connected) == 4404
    await communicator.disconnect()


async def test_no_permission_is_told_before_whether_the_job_exists(plain_user):
    cookie = await sync_to_async(_cookie_for)(plain_user)
    communicator, connected, _ = await _connect(99999, cookie)
    assert await _refused_with(communicator, connected) == 4403
    await communicator.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "",
        "[1, 2]",
        '"refresh"',
        "null",
        '{"type": 1}',
        '{"type": "something else"}',
        "[" * 1020,  # deeper than the JSON decoder goes, within the size limit
        "\ud800",
    ],
)
async def test_frames_that_are_not_a_refresh_request_are_ignored(job, admin_user, caplog, frame):
    cookie = await sync_to_async(_cookie_for)(admin_user)
    communicator, connected, _ = await _connect(job.pk, cookie)
    await _followed(communicator, connected, job.pk)
    with caplog.at_level(logging.WARNING):
        await communicator.send_input({"type": "websocket.receive", "text": frame})
        # Still open and still answering: a refresh gets a snapshot.
        await communicator.send_json_to({"type": "refresh"})
        assert (await communicator.receive_json_from(timeout=3))["type"] == "snapshot"
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"bytes": b'{"type": "refresh"}'}, 4415),  # binary: the page only sends text
        ({"text": json.dumps({"type": "refresh", "pad": "x" * 100_000})}, 4413),  # far beyond any page message
    ],
)
async def test_frames_nothing_legitimate_sends_close_the_socket_cleanly(job, admin_user, caplog, message, code):
    cookie = await sync_to_async(_cookie_for)(admin_user)
    communicator, connected, _ = await _connect(job.pk, cookie)
    await _followed(communicator, connected, job.pk)
    with caplog.at_level(logging.WARNING):
        await communicator.send_input({"type": "websocket.receive", **message})
        closing = await communicator.receive_output(timeout=3)
        assert closing == {"type": "websocket.close", "code": code}
        await communicator.send_json_to({"type": "refresh"})
        assert await communicator.receive_nothing(timeout=0.2)
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    await communicator.disconnect()


async def test_snapshot_on_connect_then_events_then_completion(job, admin_user):
    cookie = await sync_to_async(_cookie_for)(admin_user)
    communicator, connected, _ = await _connect(job.pk, cookie)
    assert connected
    first = await communicator.receive_json_from(timeout=3)
    assert first["type"] == "snapshot"
    assert first["job"]["id"] == job.pk
    assert (first["job"]["total"], first["job"]["processed"], first["job"]["status"]) == (3, 0, "running")

    # An event published by a worker is relayed as it is.
    event = job_snapshot(job) | {"processed": 2, "analysed": 2, "updated_at": "later"}
    await get_channel_layer().group_send(job_group(job.pk), {"type": "job.progress", "job": event})
    relayed = await communicator.receive_json_from(timeout=3)
    assert relayed["type"] == "progress"
    assert relayed["job"]["processed"] == 2

    # The job finishing reaches the page as "finished", through the layer or through the row.
    await sync_to_async(_finish_job)(job.pk)
    final = await communicator.receive_json_from(timeout=5)
    while final["type"] != "finished":
        final = await communicator.receive_json_from(timeout=5)
    assert final["job"]["status"] == JobStatus.CANCELLED
    await communicator.disconnect()


def _finish_job(job_id):
    from media_analysis.models import AnalysisJob

    jobs.cancel_job(AnalysisJob.objects.get(pk=job_id))


async def test_the_row_is_followed_when_no_event_arrives(job, admin_user, settings):
    # The embedded default: workers in another process cannot reach this process's layer.
    cookie = await sync_to_async(_cookie_for)(admin_user)
    communicator, connected, _ = await _connect(job.pk, cookie)
    assert connected
    assert (await communicator.receive_json_from(timeout=3))["type"] == "snapshot"
    from media_analysis.models import AnalysisJob

    await sync_to_async(AnalysisJob.objects.filter(pk=job.pk).update)(analysed=1)
    update = await communicator.receive_json_from(timeout=5)
    assert update["job"]["processed"] == 1
    await communicator.disconnect()


def test_publishing_never_raises_when_the_layer_is_down(job, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:9/0"]},  # nothing listens on the discard port
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        assert publish_job_progress(job, final=True) is False
    finally:
        channel_layers.backends.clear()
