from django.urls import path
from rest_framework.routers import SimpleRouter

from media_analysis.web.api.jobs import AnalysisJobViewSet, start_land_analysis

router = SimpleRouter()
router.register("jobs", AnalysisJobViewSet, basename="analysisjob")

urlpatterns = [
    path("lands/<int:land_id>/medianalyse/", start_land_analysis, name="land-medianalyse"),
    *router.urls,
]
