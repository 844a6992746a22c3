from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

RUN_ANALYSIS_PERMISSION = "media_analysis.run_analysis"


def can_run_analysis(user) -> bool:
    """Staff, or holders of the dedicated permission, may start and cancel analyses."""
    return bool(user and user.is_authenticated and (user.is_staff or user.has_perm(RUN_ANALYSIS_PERMISSION)))


class CanRunAnalysis(BasePermission):
    message = "Starting or cancelling an analysis needs staff status or the 'run_analysis' permission."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        return can_run_analysis(request.user)


VIEW_LAND_PERMISSION = "lands.view_land"


def can_view_land(user) -> bool:
    """Who may see a land's media (its pages and their stored thumbnails): the lands' view permission."""
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(VIEW_LAND_PERMISSION))
