"""REST adapters for analysis jobs; every decision is made in media_analysis.jobs.service."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from lands.models import Land
from media_analysis import tasks
from media_analysis.errors import InvalidParameters, JobAlreadyRunning
from media_analysis.jobs.parameters import JobParametersSerializer, parse_parameters
from media_analysis.models import AnalysisJob
from media_analysis.web.api.serializers import AnalysisJobSerializer
from media_analysis.web.permissions import CanRunAnalysis


@extend_schema(
    request=JobParametersSerializer,
    responses={
        202: AnalysisJobSerializer,
        400: OpenApiResponse(description="Invalid parameters"),
        404: OpenApiResponse(description="Unknown land"),
        409: AnalysisJobSerializer,
    },
    summary="Start the media analysis of a land",
    tags=["jobs"],
)
@api_view(["POST"])
@permission_classes([CanRunAnalysis])
def start_land_analysis(request: Request, land_id: int) -> Response:
    land = get_object_or_404(Land, pk=land_id)
    if not isinstance(request.data, dict):
        raise InvalidParameters("The body must be a JSON object", {"non_field_errors": ["expected an object"]})
    params = parse_parameters(request.data)
    try:
        job = tasks.start_job(land, params, requested_by=request.user)
    except JobAlreadyRunning as running:
        data = AnalysisJobSerializer(running.job, context={"request": request}).data
        return Response(
            {"detail": str(running), "job": data},
            status=status.HTTP_409_CONFLICT,
            headers={"Location": reverse("analysisjob-detail", args=[running.job.pk], request=request)},
        )
    job.refresh_from_db()
    location = reverse("analysisjob-detail", args=[job.pk], request=request)
    data = AnalysisJobSerializer(job, context={"request": request}).data
    return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


@extend_schema(tags=["jobs"])
class AnalysisJobViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AnalysisJobSerializer
    permission_classes = [CanRunAnalysis]
    queryset = AnalysisJob.objects.select_related("land", "requested_by").order_by("-created_at", "-id")

    def get_queryset(self):
        queryset = super().get_queryset()
        land = self.request.query_params.get("land")
        if land is not None:
            if not land.isdigit():
                raise InvalidParameters("land must be an integer id", {"land": [f"not an integer: {land!r}"]})
            queryset = queryset.filter(land_id=int(land))
        job_status = self.request.query_params.get("status")
        if job_status is not None:
            from media_analysis.models import JobStatus

            if job_status not in JobStatus.values:
                raise InvalidParameters(
                    f"status must be one of {', '.join(JobStatus.values)}", {"status": [f"unknown: {job_status!r}"]}
                )
            queryset = queryset.filter(status=job_status)
        return queryset

    @extend_schema(request=None, responses={200: AnalysisJobSerializer, 409: OpenApiResponse(description="Finished")})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        if not job.is_active:
            data = AnalysisJobSerializer(job, context={"request": request}).data
            return Response({"detail": f"Job {job.pk} is already {job.status}", "job": data}, status=409)
        job = tasks.cancel_job(job)
        return Response(AnalysisJobSerializer(job, context={"request": request}).data)
