"""Mounted with ``path("api/", include("exports.urls"))``: /api/lands/<id>/export/."""

from django.urls import path

from exports.views import LandExportView

app_name = "exports"

urlpatterns = [
    path("lands/<int:land_id>/export/", LandExportView.as_view(), name="land-export"),
]
