"""The custom admin pages, mounted with
``path("admin/medianalyse/", include("media_analysis.web.admin.urls"))`` before the admin itself.

URL names (namespace ``medianalyse``): ``job-progress`` and ``job-cancel`` take a
job id; ``land-analysis`` and ``land-gallery`` take a land id.
"""

from django.contrib import admin
from django.urls import path

from media_analysis.web.admin import pages as admin_views

app_name = "medianalyse"

urlpatterns = [
    path("jobs/<int:job_id>/", admin.site.admin_view(admin_views.job_progress_view), name="job-progress"),
    path("jobs/<int:job_id>/cancel/", admin.site.admin_view(admin_views.job_cancel_view), name="job-cancel"),
    path("lands/<int:land_id>/", admin.site.admin_view(admin_views.land_analysis_view), name="land-analysis"),
    path("lands/<int:land_id>/gallery/", admin.site.admin_view(admin_views.land_gallery_view), name="land-gallery"),
]
