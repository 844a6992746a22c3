"""Admin for analysis jobs: a read-only record of what ran, when, and how it went.

Jobs are started and cancelled through the application, never by editing a
row, so the admin grants neither add, change nor delete. Viewing follows the jobs'
rule of media_analysis.web.permissions, as their pages, API and socket do: the view
permission on jobs, or ``run_analysis`` (whoever may start jobs may follow them).
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from media_analysis.models import AnalysisJob
from media_analysis.web.admin.pages import format_seconds
from media_analysis.web.permissions import can_view_jobs


@admin.register(AnalysisJob)
class AnalysisJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "land",
        "status",
        "live_page",
        "progress_display",
        "total",
        "analysed",
        "reused",
        "unchanged",
        "failed",
        "skipped",
        "created_at",
        "started_at",
        "finished_at",
        "duration_display",
    ]
    list_filter = ["status", "land"]
    list_select_related = ["land"]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["land", "requested_by", "status", "live_page", "error"]}),
        (
            "Parameters",
            {"fields": ["depth", "minrel", "media_types", "force", "retry_failed", "ocr", "selection"]},
        ),
        (
            "Progress",
            {
                "fields": [
                    "progress_display",
                    "total",
                    "analysed",
                    "reused",
                    "unchanged",
                    "failed",
                    "skipped",
                    "chunks_total",
                    "chunks_done",
                    "success_rate_display",
                    "throughput_display",
                    "eta_display",
                ]
            },
        ),
        ("Timing", {"fields": ["created_at", "started_at", "finished_at", "updated_at", "duration_display"]}),
        ("Recent failures", {"fields": ["recent_failures_pretty"]}),
    ]
    readonly_fields = [
        "selection",
        "live_page",
        "progress_display",
        "success_rate_display",
        "throughput_display",
        "eta_display",
        "duration_display",
        "recent_failures_pretty",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AnalysisJob | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AnalysisJob | None = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: AnalysisJob | None = None) -> bool:
        return can_view_jobs(request.user)

    @admin.display(description="Live page")
    def live_page(self, job: AnalysisJob) -> SafeString:
        url = reverse("medianalyse:job-progress", args=[job.pk])
        return format_html('<a href="{}">{}</a>', url, "Follow live" if job.is_active else "Summary")

    @admin.display(description="Progress")
    def progress_display(self, job: AnalysisJob) -> str:
        return f"{job.progress:.1f}%"

    @admin.display(description="Duration")
    def duration_display(self, job: AnalysisJob) -> str:
        return format_seconds(job.duration_seconds)

    @admin.display(description="Success rate")
    def success_rate_display(self, job: AnalysisJob) -> str:
        rate = job.success_rate
        return "-" if rate is None else f"{rate:.1f}%"

    @admin.display(description="Throughput")
    def throughput_display(self, job: AnalysisJob) -> str:
        rate = job.throughput
        return "-" if rate is None else f"{rate:.2f} media/s"

    @admin.display(description="Time left (estimate)")
    def eta_display(self, job: AnalysisJob) -> str:
        return format_seconds(job.eta_seconds)

    @admin.display(description="Explicit selection")
    def selection(self, job: AnalysisJob) -> str:
        # A selection may list thousands of ids: its size says enough here.
        if job.media_ids is None:
            return "-"
        return f"{len(job.media_ids)} media"

    @admin.display(description="Recent failures")
    def recent_failures_pretty(self, job: AnalysisJob) -> SafeString:
        if not job.recent_failures:
            return format_html("{}", "-")
        text = json.dumps(job.recent_failures, indent=2, ensure_ascii=False, default=str)
        return format_html('<pre style="white-space:pre-wrap;max-height:30em;overflow:auto">{}</pre>', text)
