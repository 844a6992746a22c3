"""``manage.py import_mywi PATH [--land NAME ...]``: import a legacy MyWebIntelligence database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from lands.errors import ImportFailed
from lands.importer import BATCH_SIZE, ProgressUpdate, import_legacy_database

if TYPE_CHECKING:
    from tqdm import tqdm


class _StderrStream:
    """What tqdm writes to: the command's stderr, unstyled, without an added newline."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self._wrapper = wrapper
        # tqdm draws with Unicode blocks only when the stream says it can take them.
        self.encoding = getattr(wrapper, "encoding", None)

    def write(self, text: str) -> None:
        self._wrapper.write(text, style_func=str, ending="")

    def flush(self) -> None:
        self._wrapper.flush()


class _ProgressBars:
    """One tqdm bar per land, fed by the importer's progress updates."""

    def __init__(self, stream: _StderrStream) -> None:
        self._stream = stream
        self._bar: tqdm[Any] | None = None
        self._land: str | None = None

    def __call__(self, update: ProgressUpdate) -> None:
        from tqdm import tqdm

        if update.land != self._land:
            self.close()
            self._land = update.land
            self._bar = tqdm(total=update.total, desc=update.land, unit="row", file=self._stream, mininterval=0.2)
        bar = self._bar
        if bar is None:  # this land's bar is already complete
            return
        bar.set_postfix_str(update.step, refresh=False)
        bar.update(update.done - bar.n)
        if update.done >= update.total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class Command(BaseCommand):
    help = (
        "Import a legacy MyWebIntelligence SQLite database (lands, pages, domains, links, tags, media and their "
        "analysis). Re-running it creates nothing twice."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="The crawler's SQLite file (opened read-only)")
        parser.add_argument(
            "--land",
            dest="lands",
            action="extend",
            nargs="+",
            metavar="NAME",
            help="Import only these lands (repeatable); default: every land of the file",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (none when not a TTY)")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="Rows per read and bulk write")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        bars = None
        if not options["no_progress"] and self.stderr.isatty():
            bars = _ProgressBars(_StderrStream(self.stderr))
        try:
            report = import_legacy_database(
                options["path"], options["lands"], progress=bars, batch_size=options["batch_size"]
            )
        except ImportFailed as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bars is not None:
                bars.close()
        for line in report.summary_lines():
            self.stdout.write(line)
