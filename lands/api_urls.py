from rest_framework.routers import DefaultRouter

from lands.api import ClusterViewSet, ExpressionViewSet, LandViewSet, MediaViewSet

router = DefaultRouter()
router.register("lands", LandViewSet, basename="land")
router.register("expressions", ExpressionViewSet, basename="expression")
router.register("media", MediaViewSet, basename="media")
router.register("clusters", ClusterViewSet, basename="cluster")
urlpatterns = router.urls
