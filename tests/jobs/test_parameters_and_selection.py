import pytest

from lands.models import AnalysisStatus, Media
from media_analysis.engine.version import ANALYSIS_VERSION, CRAWLER_VERSION
from media_analysis.errors import InvalidParameters, JobAlreadyRunning
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import PARAMETER_NAMES, JobParameters, parse_parameters
from media_analysis.jobs.selection import dry_run, preview_selection, select_media
from media_analysis.models import AnalysisJob, JobStatus
from tests.factories import make_expression, make_land, make_media


def test_defaults_select_images_never_analysed():
    params = parse_parameters({})
    assert params == JobParameters(depth=None, minrel=None, media_types=("img",), force=False)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"depth": -1}, "depth"),
        ({"depth": "deep"}, "depth"),
        ({"depth": True}, "depth"),
        ({"minrel": "x"}, "minrel"),
        ({"media_types": ["gif"]}, "media_types"),
        ({"media_types": 3}, "media_types"),
        ({"force": "perhaps"}, "force"),
        ({"colour": 1}, "non_field_errors"),
    ],
)
def test_bad_parameters_are_reported_by_name(raw, field):
    with pytest.raises(InvalidParameters) as caught:
        parse_parameters(raw)
    assert field in caught.value.errors
    assert str(caught.value).startswith("Invalid parameters")


def test_every_problem_is_reported_with_the_messages_all_entry_points_show():
    with pytest.raises(InvalidParameters) as caught:
        parse_parameters({"depth": -2, "minrel": "high", "media_types": ["gif"], "force": "perhaps", "colour": 1})
    assert caught.value.errors == {
        "non_field_errors": [
            "unknown parameter(s): colour; allowed: depth, minrel, media_types, force, retry_failed, ocr"
        ],
        "depth": ["must be >= 0 (got -2)"],
        "minrel": ["must be an integer (got 'high')"],
        "media_types": ["unknown media type(s): gif; allowed: img, video, audio"],
        "force": ["must be a boolean (got 'perhaps')"],
    }


def test_the_api_schema_is_documented_from_the_validator(staff_api_client, db):
    schema = staff_api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    request = schema["paths"]["/api/lands/{land_id}/medianalyse/"]["post"]["requestBody"]
    name = request["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    properties = schema["components"]["schemas"][name]["properties"]
    assert tuple(properties) == PARAMETER_NAMES
    assert properties["depth"]["minimum"] == 0
    assert properties["media_types"]["type"] == "array"


def test_parameters_accept_strings_from_forms_and_command_lines():
    params = parse_parameters({"depth": "2", "minrel": "1", "media_types": "img, video", "force": "true"})
    assert params == JobParameters(depth=2, minrel=1, media_types=("img", "video"), force=True)


@pytest.fixture
def corpus(db):
    land = make_land()
    other = make_land()
    seed = make_expression(land, depth=0, relevance=3)
    deeper = make_expression(land, depth=2, relevance=1)
    unknown = make_expression(land, depth=None, relevance=None)
    rows = {
        "seed_img": make_media(seed),
        "seed_video": make_media(seed, type="video"),
        "deep_img": make_media(deeper),
        "unknown_img": make_media(unknown),
        "done_img": make_media(
            seed, analysis_status=AnalysisStatus.DONE, is_processed=True, analysis_version=ANALYSIS_VERSION
        ),
        "failed_img": make_media(deeper, analysis_status=AnalysisStatus.FAILED, is_processed=True),
        "other_land": make_media(make_expression(other, depth=0, relevance=5)),
    }
    return land, rows


def _selected(land, **raw):
    return set(select_media(land, parse_parameters(raw)).values_list("pk", flat=True))


def test_selection_semantics(corpus):
    land, m = corpus
    assert _selected(land) == {m["seed_img"].pk, m["deep_img"].pk, m["unknown_img"].pk}
    # depth 0: seed pages only; pages of unknown depth are left out once a depth is given
    assert _selected(land, depth=0) == {m["seed_img"].pk}
    assert _selected(land, depth=2) == {m["seed_img"].pk, m["deep_img"].pk}
    # minrel: unscored pages (NULL relevance) are left out once a minimum is given
    assert _selected(land, minrel=2) == {m["seed_img"].pk}
    assert _selected(land, minrel=0) == {m["seed_img"].pk, m["deep_img"].pk}
    assert _selected(land, media_types=["video"]) == {m["seed_video"].pk}
    assert _selected(land, retry_failed=True) == {
        m["seed_img"].pk,
        m["deep_img"].pk,
        m["unknown_img"].pk,
        m["failed_img"].pk,
    }
    assert _selected(land, force=True) == {
        m["seed_img"].pk,
        m["deep_img"].pk,
        m["unknown_img"].pk,
        m["done_img"].pk,
        m["failed_img"].pk,
    }


def test_default_selection_takes_values_of_an_older_analysis_version(corpus):
    land, m = corpus
    page = m["seed_img"].expression
    done = {"analysis_status": AnalysisStatus.DONE, "is_processed": True}
    imported = make_media(page, analysis_version=CRAWLER_VERSION, **done)
    ours_before = make_media(page, analysis_version=ANALYSIS_VERSION - 1, **done)
    unknown = make_media(page, **done)  # values of unknown origin
    failed_old = make_media(
        page, analysis_status=AnalysisStatus.FAILED, is_processed=True, analysis_version=CRAWLER_VERSION
    )
    never = {m["seed_img"].pk, m["deep_img"].pk, m["unknown_img"].pk}
    older = {imported.pk, ours_before.pk, unknown.pk}

    assert _selected(land) == never | older
    assert m["done_img"].pk not in _selected(land)
    # A failed latest attempt is retried only on request, whatever the version of its kept values.
    assert _selected(land, retry_failed=True) == never | older | {m["failed_img"].pk, failed_old.pk}
    needing = Media.objects.of_land(land.pk).filter(type="img").needing_analysis(ANALYSIS_VERSION)
    assert set(needing.values_list("pk", flat=True)) == never | older

    preview = preview_selection(land, parse_parameters({}))
    assert (preview.in_scope, preview.selected, preview.pending, preview.outdated) == (9, 6, 3, 3)
    assert (preview.failed, preview.current) == (2, 1)
    assert any("older analysis version" in line for line in preview.reasons())
    assert preview_selection(land, parse_parameters({"force": True})).selected == 9


@pytest.mark.parametrize(
    "raw",
    [{}, {"force": True}, {"retry_failed": True}, {"media_types": ["img", "video"]}, {"media_types": ["audio"]}],
)
def test_the_stored_preview_counts_what_the_live_one_counts(corpus, raw):
    from lands.aggregates import compute_figures
    from media_analysis.jobs.selection import preview_from_groups

    land, _ = corpus
    params = parse_parameters(raw)
    assert preview_from_groups(compute_figures(land.pk)["selection"], params) == preview_selection(land, params)
    assert preview_from_groups([], parse_parameters({"depth": 1})) is None


def test_the_start_form_preview_says_why_nothing_is_selected(corpus, django_assert_num_queries):
    land, m = corpus
    Media.objects.filter(pk__in=[m["seed_img"].pk, m["deep_img"].pk, m["unknown_img"].pk]).update(
        analysis_status=AnalysisStatus.DONE, analysis_version=ANALYSIS_VERSION
    )
    with django_assert_num_queries(1):
        preview = preview_selection(land, parse_parameters({}))

    assert preview.selected == 0
    reasons = preview.reasons()
    assert reasons[0] == "Nothing to analyse with these parameters."
    assert any("Retry failed" in line for line in reasons)
    assert any("4 already analysed by the current version" in line for line in reasons)
    empty = preview_selection(land, parse_parameters({"media_types": ["audio"]}))
    assert (empty.in_scope, empty.reasons()) == (
        0,
        ["No media of the chosen types on the pages these depth and relevance limits select."],
    )


def test_dry_run_reports_and_writes_nothing(corpus, django_assert_num_queries):
    land, _ = corpus
    before = list(Media.objects.order_by("pk").values())
    with django_assert_num_queries(1):  # one grouped scan, whatever the land's size
        report = dry_run(land, parse_parameters({}))
    assert report.selected == 3
    assert report.in_scope == 5
    assert report.already_analysed == 1
    assert report.by_type_and_status["img"] == {"pending": 3, "done": 1, "failed": 1}
    assert "3 would be analysed" in report.lines()[0]
    assert list(Media.objects.order_by("pk").values()) == before
    assert not AnalysisJob.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [{}, {"force": True}, {"retry_failed": True}, {"ocr": True}, {"media_types": ["img", "video"], "depth": 0}],
)
def test_dry_run_counts_agree_with_the_selection(corpus, raw):
    land, _ = corpus
    params = parse_parameters(raw)
    report = dry_run(land, params)
    assert report.selected == select_media(land, params).count()
    in_scope = select_media(land, parse_parameters({**raw, "force": True}))
    assert report.in_scope == in_scope.count()
    assert report.already_analysed == in_scope.filter(analysis_status="done").count()
    assert report.non_conforming == in_scope.filter(is_conforming=False).count()


def test_one_active_job_per_land(corpus):
    land, _ = corpus
    first = jobs.create_job(land, JobParameters())
    with pytest.raises(JobAlreadyRunning) as caught:
        jobs.create_job(land, JobParameters())
    assert caught.value.job.pk == first.pk
    jobs.cancel_job(first)
    assert AnalysisJob.objects.get(pk=first.pk).status == JobStatus.CANCELLED
    second = jobs.create_job(land, JobParameters())
    assert second.pk != first.pk


def test_planning_splits_into_chunks_and_is_idempotent(corpus):
    land, _ = corpus
    job = jobs.create_job(land, parse_parameters({"force": True}))
    first = jobs.plan_job(job.pk, chunk_size=2)
    job.refresh_from_db()
    assert (job.status, job.total, job.chunks_total) == (JobStatus.RUNNING, 5, 3)
    assert sorted(len(c.media_ids) for c in job.chunks.all()) == [1, 2, 2]
    assert jobs.plan_job(job.pk, chunk_size=2) == first
    assert job.chunks.count() == 3


def test_an_empty_selection_completes_at_once(db):
    land = make_land()
    job = jobs.create_job(land, JobParameters())
    assert jobs.plan_job(job.pk, chunk_size=10) == []
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.progress == 100.0


def test_cancelled_job_skips_its_remaining_chunks(corpus):
    land, _ = corpus
    job = jobs.create_job(land, JobParameters(force=True))
    chunk_ids = jobs.plan_job(job.pk, chunk_size=2)
    jobs.cancel_job(job)
    assert [jobs.run_chunk(cid).processed for cid in chunk_ids] == [False, False, False]
    job.refresh_from_db()
    assert job.processed == 0
    assert job.status == JobStatus.CANCELLED


def test_tasks_tolerate_missing_rows(db):
    from media_analysis.tasks import cluster_land_task, plan_job_task, run_chunk_task

    plan_job_task(987654)
    run_chunk_task(987654)
    cluster_land_task(987654)
