"""A land with what every read path shows (pages, media, a cluster, a job), and users at each level of access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from lands.models import AnalysisStatus, Expression, Land, Media
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.models import AnalysisJob, ApiToken, ImageCluster
from tests.factories import make_domain, make_expression, make_land, make_media, make_staff


@dataclass
class Corpus:
    land: Land
    page: Expression
    media: Media
    cluster: ImageCluster
    job: AnalysisJob


@pytest.fixture
def corpus(db) -> Corpus:
    land = make_land("Private land")
    domain = make_domain("news.example")
    page = make_expression(land, domain, depth=0, relevance=2, http_status="200", readable="The page's text.")
    other = make_expression(land, make_domain("blog.example"), depth=1, relevance=1, http_status="200")
    done: dict[str, Any] = {
        "analysis_status": AnalysisStatus.DONE,
        "is_processed": True,
        "format": "JPEG",
        "width": 400,
    }
    media = make_media(page, height=300, **done)
    twin = make_media(other, height=300, **done)
    cluster = ImageCluster.objects.create(
        land=land, key=media.pk, representative=media, size=2, distinct_domains=2, distinct_pages=2
    )
    Media.objects.filter(pk__in=[media.pk, twin.pk]).update(cluster=cluster)
    job = jobs.create_job(land, JobParameters())
    AnalysisJob.objects.filter(pk=job.pk).update(
        recent_failures=[{"media_id": twin.pk, "url": twin.url, "error_class": "timeout", "reason": "slow"}]
    )
    job.refresh_from_db()
    return Corpus(land=land, page=page, media=media, cluster=cluster, job=job)


@pytest.fixture
def as_user():
    """A session client logged in as ``make_staff(username, *permissions)``, or as the given user."""

    def login(user_or_name, *permissions: str) -> Client:
        user = make_staff(user_or_name, *permissions) if isinstance(user_or_name, str) else user_or_name
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.fixture
def token_client():
    """An API client sending the token of a user (not staff) holding ``permissions``, or of the given user."""

    def build(user_or_name, *permissions: str) -> APIClient:
        if isinstance(user_or_name, str):
            user = make_staff(user_or_name, *permissions)
            user.is_staff = False  # the API asks for permissions, not for staff status
            user.save(update_fields=["is_staff"])
        else:
            user = user_or_name
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.issue(user)[1]}")
        return client

    return build
