from rest_framework.routers import DefaultRouter

from lands.api import ExpressionViewSet, LandViewSet, MediaViewSet

router = DefaultRouter()
router.register("lands", LandViewSet, basename="land")
router.register("expressions", ExpressionViewSet, basename="expression")
router.register("media", MediaViewSet, basename="media")
urlpatterns = router.urls
