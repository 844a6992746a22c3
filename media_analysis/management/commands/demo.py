"""Run the offline demo: serve demo files on 127.0.0.1, analyse them through Huey, print the summary."""

from __future__ import annotations

import logging
import time
from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import override_settings
from huey.contrib.djhuey import HUEY

from lands.models import AnalysisStatus, Media
from media_analysis import tasks
from media_analysis.jobs import demo
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters, ocr_unavailable
from media_analysis.models import AnalysisJob, JobStatus, MediaText, TextStatus


class Command(BaseCommand):
    help = "Analyse a demo land served from 127.0.0.1 through the Huey task path and print the job summary."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workers", type=int, default=2, help="Huey worker threads for the demo consumer")
        parser.add_argument("--timeout", type=float, default=300, help="Give up after this many seconds")

    def handle(self, *args, workers: int, timeout: float, **options) -> None:
        if HUEY.immediate:
            raise CommandError("The demo runs a real consumer: unset HUEY_IMMEDIATE")
        if options["verbosity"] < 2:
            logging.getLogger("huey").setLevel(logging.WARNING)
        allowed = [*settings.MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS, "127.0.0.1"]
        # Only this process's consumer may reach 127.0.0.1: the override lives in memory.
        with (
            override_settings(MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS=allowed),
            demo.serve_demo_files(settings.MEDIA_ANALYSIS_MAX_FILE_SIZE) as base_url,
        ):
            land = demo.create_demo_land(base_url)
            self.stdout.write(
                f"Demo land {land.name!r} (id {land.pk}): {land.expressions.count()} pages, "
                f"{Media.objects.of_land(land.pk).count()} media served from {base_url}"
            )
            # The text in pictures is read when Tesseract is installed; the rest of the demo runs without it.
            missing = ocr_unavailable()
            self.stdout.write(f"OCR: unavailable ({missing})" if missing else "OCR: on (text in pictures is read)")
            params = JobParameters(media_types=("img", "video", "audio"), ocr=not missing)
            job = tasks.start_job(land, params)
            consumer = HUEY.create_consumer(workers=workers, worker_type="thread", periodic=False, max_delay=0.2)
            consumer.start()
            try:
                job = self._wait(job, timeout)
            finally:
                consumer.stop(graceful=True)
        self._report(job)

    def _wait(self, job: AnalysisJob, timeout: float) -> AnalysisJob:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            job.refresh_from_db()
            line = f"  {job.status}: {job.processed}/{job.total} ({job.progress:.0f}%)"
            if line != last:
                self.stdout.write(line)
                last = line
            if job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
                return job
            time.sleep(0.2)
        jobs.cancel_job(job)
        raise CommandError(f"The demo job {job.pk} did not finish within {timeout:.0f} s (cancelled)")

    def _report_text(self, job: AnalysisJob) -> None:
        texts = MediaText.objects.filter(media__expression__land_id=job.land_id)
        by_status = Counter(texts.values_list("status", flat=True))
        self.stdout.write(
            "Text in pictures: " + ", ".join(f"{status}={by_status.get(status, 0)}" for status in TextStatus.values)
        )
        read = {t.media.url.rsplit("/", 1)[-1]: t for t in texts.filter(status=TextStatus.TEXT).select_related("media")}
        for name, text in sorted(read.items()):
            shown = text.text.replace("\n", " / ")
            self.stdout.write(f"  {name}: {shown!r} ({text.language or 'language unknown'}, {text.confidence:.0f}%)")
        wanted = {item.file: item.text for item in demo.manifest() if item.text}
        unread = [name for name, caption in wanted.items() if name not in read or read[name].text != caption]
        if unread:
            raise CommandError(f"The demo's captions were not read as written: {', '.join(unread)}")

    def _report(self, job: AnalysisJob) -> None:
        media = list(Media.objects.of_land(job.land_id).values("url", "analysis_status", "error_class"))
        by_class = Counter(m["error_class"] for m in media if m["analysis_status"] == AnalysisStatus.FAILED)
        self.stdout.write(
            f"Job {job.pk} {job.status} in {job.duration_seconds or 0:.2f} s: {job.total} media, "
            f"{job.analysed} analysed, {job.reused} reused, {job.unchanged} unchanged, {job.failed} failed, "
            f"{job.skipped} skipped "
            f"({job.throughput or 0:.1f} media/s, success rate {job.success_rate}%)."
        )
        if by_class:
            self.stdout.write("Failures by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(by_class.items())))
        expected = Counter(item.expect for item in demo.manifest())
        expected_classes = Counter(item.error_class for item in demo.manifest() if item.expect == "failed")
        outcome = Counter(m["analysis_status"] for m in media)
        matches = (
            job.status == JobStatus.COMPLETED
            and outcome.get("done", 0) == expected["done"]
            and outcome.get("failed", 0) == expected["failed"]
            and by_class == expected_classes
        )
        if not matches:
            raise CommandError(
                f"The demo result does not match its files: expected {dict(expected)} "
                f"with failures {dict(expected_classes)}, got {dict(outcome)} with failures {dict(by_class)}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Counts match the demo files: {expected['done']} analysed, {expected['failed']} failed as expected."
            )
        )
        if job.ocr:
            self._report_text(job)
        self.stdout.write(
            "Look at the result in the admin: create a user with `.venv/bin/python manage.py createsuperuser`, "
            "start `./scripts/serve`, then open http://127.0.0.1:8000/admin/lands/media/?expression__land__id__exact="
            f"{job.land_id}"
        )
