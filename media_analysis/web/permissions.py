from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

RUN_ANALYSIS_PERMISSION = "media_analysis.run_analysis"
CORRECT_CLUSTERS_PERMISSION = "media_analysis.change_imagecluster"


def can_run_analysis(user) -> bool:
    """Holders of the dedicated permission (superusers hold every one) may start and cancel analyses.

    Staff status alone grants nothing, as everywhere in the admin.
    """
    return bool(user and user.is_authenticated and user.has_perm(RUN_ANALYSIS_PERMISSION))


def can_correct_clusters(user) -> bool:
    """Splitting, merging and recomputing clusters, and withdrawing a correction: the change permission on clusters."""
    return bool(user and user.is_authenticated and user.has_perm(CORRECT_CLUSTERS_PERMISSION))


class CanRunAnalysis(BasePermission):
    message = "Starting or cancelling an analysis needs the 'run_analysis' permission."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        return can_run_analysis(request.user)
