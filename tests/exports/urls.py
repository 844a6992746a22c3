"""The site's routes plus the exports API, mounted as the project mounts it."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("exports.urls")),
]
