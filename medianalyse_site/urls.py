from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from media_analysis.web.api.docs import OwnSiteRedocView
from media_analysis.web.api.root import api_index
from media_analysis.web.home import guide_view, home_view
from media_analysis.web.metrics_view import metrics_view

admin.site.site_header = "medianalyse"
admin.site.site_title = "medianalyse"
admin.site.index_title = "Media analysis of web corpora"
# "View site": the landing page below, not a 404.
admin.site.site_url = "/"

urlpatterns = [
    path("", home_view, name="home"),
    path("guides/<slug:slug>/", guide_view, name="guide"),
    # Browsers ask for it on pages that name no icon (the API's JSON, files).
    path("favicon.ico", RedirectView.as_view(url=static("medianalyse/favicon.svg"), permanent=True)),
    path("admin/medianalyse/", include("media_analysis.web.admin.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", OwnSiteRedocView.as_view(url_name="schema"), name="api-redoc"),
    # Before the routers: this root lists jobs, clusters and exports beside the corpus.
    path("api/", api_index, name="api-index"),
    # The browsable API's login and logout links.
    path("api/auth/", include("rest_framework.urls")),
    path("api/", include("media_analysis.web.api.urls")),
    path("api/", include("lands.api_urls")),
    path("api/", include("exports.urls")),
    path("metrics", metrics_view, name="prometheus-django-metrics"),
]
