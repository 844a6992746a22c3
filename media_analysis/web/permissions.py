"""Who may read and who may act: the one rule of the admin pages, the API and the progress socket.

Reading follows the admin's own view permissions, so a page, an endpoint or the socket answers a user
as the admin's list of the same rows would:

* a model's rows (lands, expressions, media) need the model's view or change permission, as Django's
  admin decides (change implies view);
* what is derived from a land (its analysis page and charts, gallery, clusters, exports) needs the view
  permission on lands;
* the image wall needs the view permission on media, and on lands, whose stored thumbnails it shows;
* analysis jobs (the progress page and socket, the jobs API) need the view permission on jobs, or
  ``run_analysis``: whoever may start and cancel jobs may follow them, as change implies view.

Acting: ``run_analysis`` starts and cancels analyses; the change permission on clusters corrects them
(split, merge, recompute, withdraw a correction). Superusers hold every permission; an inactive user
holds none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_permission_codename
from django.db.models import Model
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from lands.models import Expression, Land, Media
from media_analysis.models import AnalysisJob, ImageCluster

RUN_ANALYSIS_PERMISSION = "media_analysis.run_analysis"


def _authenticated(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated)


def _holds(user: Any, action: str, model: type[Model]) -> bool:
    opts = model._meta
    return bool(user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}"))


def can_view_model(user: Any, model: type[Model]) -> bool:
    """The admin's rule for listing ``model``: its view or its change permission."""
    return _authenticated(user) and (_holds(user, "view", model) or _holds(user, "change", model))


def can_view_land(user: Any) -> bool:
    """Lands, and everything derived from one: analysis page, charts, gallery, clusters, exports."""
    return can_view_model(user, Land)


def can_view_expressions(user: Any) -> bool:
    """Expressions (pages), with their readable text."""
    return can_view_model(user, Expression)


def can_view_media(user: Any) -> bool:
    return can_view_model(user, Media)


def can_view_wall(user: Any) -> bool:
    """The image wall: media, shown from the stored thumbnails that the view permission on lands opens."""
    return can_view_media(user) and can_view_land(user)


def can_run_analysis(user: Any) -> bool:
    """Starting and cancelling analyses: the ``run_analysis`` permission (superusers hold it)."""
    return _authenticated(user) and bool(user.has_perm(RUN_ANALYSIS_PERMISSION))


def can_view_jobs(user: Any) -> bool:
    """Analysis jobs and their progress: the view permission on jobs, or the right to run them."""
    return can_view_model(user, AnalysisJob) or can_run_analysis(user)


def can_correct_clusters(user: Any) -> bool:
    """Splitting, merging and recomputing clusters, and withdrawing a correction: change on clusters."""
    return _authenticated(user) and _holds(user, "change", ImageCluster)


# --- The API's permission classes -------------------------------------------------------------


class _Rule(BasePermission):
    """A DRF permission made of two rules: one for reading (safe methods), one for everything else.

    An anonymous request fails it too, and DRF then answers 401 with the token challenge rather than 403.
    """

    read: Callable[[Any], bool] = staticmethod(lambda user: False)
    write: Callable[[Any], bool] = staticmethod(lambda user: False)
    read_message = "You do not have permission to read this."
    write_message = "You do not have permission to do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        reading = request.method in SAFE_METHODS
        # DRF reads the denial's detail from the instance, made afresh for each request.
        self.message = self.read_message if reading else self.write_message
        return (self.read if reading else self.write)(request.user)


class CanViewLands(_Rule):
    read = staticmethod(can_view_land)
    read_message = "Reading lands and what is derived from them needs the view permission on lands."


class CanViewExpressions(_Rule):
    read = staticmethod(can_view_expressions)
    read_message = "Reading expressions needs the view permission on expressions."


class CanViewMedia(_Rule):
    read = staticmethod(can_view_media)
    read_message = "Reading media needs the view permission on media."


class CanRunAnalysis(_Rule):
    """Jobs: read with the jobs' view rule, start and cancel with ``run_analysis``."""

    read = staticmethod(can_view_jobs)
    write = staticmethod(can_run_analysis)
    read_message = "Reading analysis jobs needs the view permission on analysis jobs or 'run_analysis'."
    write_message = "Starting or cancelling an analysis needs the 'run_analysis' permission."
