"""Analyse (or re-analyse) the media of a land: in the foreground, or handed to the consumers."""

from __future__ import annotations

import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from lands.models import Land
from media_analysis import tasks
from media_analysis.errors import InvalidParameters, JobAlreadyRunning
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import parse_parameters
from media_analysis.jobs.selection import dry_run
from media_analysis.jobs.worker import tune_process
from media_analysis.models import AnalysisJob, JobStatus


class Command(BaseCommand):
    help = (
        "Analyse the media of a land with the same pipeline and job row as the API. By default runs in the "
        "foreground with a progress bar; --enqueue hands the job to the Huey consumers; --dry-run changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--land-id", type=int, required=True)
        parser.add_argument("--force", action="store_true", help="Re-analyse media already analysed")
        parser.add_argument("--retry-failed", action="store_true", help="Also retry media whose analysis failed")
        parser.add_argument(
            "--ocr", action="store_true", help="Also read the text in pictures (needs Tesseract; see the guide)"
        )
        parser.add_argument("--dry-run", action="store_true", help="Print what would be done and change nothing")
        parser.add_argument("--depth", help="Only pages of depth <= D (pages of unknown depth are then left out)")
        parser.add_argument("--minrel", help="Only pages of relevance >= R (unscored pages are then left out)")
        parser.add_argument(
            "--type",
            action="append",
            dest="types",
            metavar="T",
            help="Media type: img, video or audio (repeat or comma-separate; default img)",
        )
        parser.add_argument("--enqueue", action="store_true", help="Hand the job to the consumers; print its id")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar")

    def handle(self, *args, **options) -> None:
        land = Land.objects.filter(pk=options["land_id"]).first()
        if land is None:
            raise CommandError(f"No land with id {options['land_id']}")
        types = ",".join(options["types"] or []) or None
        try:
            params = parse_parameters(
                {
                    "depth": options["depth"],
                    "minrel": options["minrel"],
                    "media_types": types,
                    "force": options["force"],
                    "retry_failed": options["retry_failed"],
                    "ocr": options["ocr"],
                }
            )
        except InvalidParameters as exc:
            raise CommandError(str(exc)) from None
        if options["dry_run"]:
            for line in dry_run(land, params).lines():
                self.stdout.write(line)
            return
        try:
            # In the foreground this process plans and runs the chunks itself: nothing to enqueue.
            job = tasks.start_job(land, params) if options["enqueue"] else jobs.create_job(land, params)
        except JobAlreadyRunning as exc:
            raise CommandError(f"{exc}; cancel it first or wait for it") from None
        if options["enqueue"]:
            self.stdout.write(f"Job {job.pk} enqueued for land {land.name!r}")
            self.stdout.write(str(job.pk))
            return
        self._run_in_foreground(job.pk, show_progress=not options["no_progress"] and sys.stderr.isatty())

    def _run_in_foreground(self, job_id: int, show_progress: bool) -> None:
        tune_process()  # this process runs the analyses, as a consumer's worker would
        chunk_ids = jobs.plan_job(job_id, settings.MEDIA_ANALYSIS_CHUNK_SIZE)
        job = AnalysisJob.objects.get(pk=job_id)
        started = time.monotonic()
        with tqdm(total=job.total, unit="media", disable=not show_progress, file=sys.stderr) as bar:
            try:
                for chunk_id in chunk_ids:
                    job.refresh_from_db(fields=["status"])
                    if job.status != JobStatus.RUNNING:
                        break
                    outcome = jobs.run_chunk(chunk_id)
                    if outcome is not None:
                        tasks.follow_up(outcome)
                    job.refresh_from_db()
                    bar.update(job.processed - bar.n)
            except KeyboardInterrupt:
                jobs.cancel_job(job)
                raise CommandError(f"Interrupted: job {job.pk} cancelled after {job.processed} media") from None
        tasks.follow_up(jobs.finalise_job(job_id))
        job.refresh_from_db()
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Job {job.pk} {job.status}: {job.total} media, {job.analysed} analysed, {job.reused} reused, "
            f"{job.unchanged} unchanged, "
            f"{job.failed} failed, {job.skipped} skipped in {elapsed:.1f} s (success rate {job.success_rate}%)"
        )
        for failure in job.recent_failures[:5]:
            self.stdout.write(f"  failed: {failure['url']} ({failure['error_class']}: {failure['reason']})")
