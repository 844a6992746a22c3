from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from tests.factories import make_land


def test_land_page_has_buttons_to_analysis_gallery_media_and_exports(admin_client):
    land = make_land()
    html = admin_client.get(f"/admin/lands/land/{land.pk}/change/").content.decode()
    for href in (
        f"/admin/medianalyse/lands/{land.pk}/",
        f"/admin/medianalyse/lands/{land.pk}/gallery/",
        f"/admin/medianalyse/clusters/lands/{land.pk}/",
        f"/admin/lands/media/?expression__land__id__exact={land.pk}",
        f"/api/lands/{land.pk}/export/?type=mediacsv&amp;minrel=all",
        f"/api/lands/{land.pk}/export/?type=mediagexf&amp;minrel=all",
    ):
        assert f'href="{href}"' in html


def test_job_admin_links_to_the_live_page(admin_client):
    job = jobs.create_job(make_land(), JobParameters())
    listing = admin_client.get("/admin/media_analysis/analysisjob/").content.decode()
    assert f'href="/admin/medianalyse/jobs/{job.pk}/"' in listing
    assert "Follow live" in listing
    detail = admin_client.get(f"/admin/media_analysis/analysisjob/{job.pk}/change/").content.decode()
    assert f'href="/admin/medianalyse/jobs/{job.pk}/"' in detail
