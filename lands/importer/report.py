"""What an import did: counts per table and land, warnings, and the progress updates sent while it runs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from lands.importer.source import TABLES


@dataclass
class TableCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def present(self) -> int:
        """Rows that already existed (updated or not)."""
        return self.updated + self.unchanged

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def add(self, other: TableCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped.update(other.skipped)

    def describe(self) -> str:
        text = f"{self.created} created, {self.present} already present ({self.updated} updated), "
        text += f"{self.skipped_total} skipped"
        if self.skipped:
            text += ": " + ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
        return text


@dataclass
class LandReport:
    name: str
    land_id: int | None = None
    created: bool = False
    tables: dict[str, TableCounts] = field(default_factory=lambda: {table: TableCounts() for table in TABLES})
    warnings: Counter[str] = field(default_factory=Counter)


@dataclass
class ImportReport:
    path: str
    lands: list[LandReport] = field(default_factory=list)
    seconds: float = 0.0

    def totals(self) -> dict[str, TableCounts]:
        totals = {table: TableCounts() for table in TABLES}
        for land in self.lands:
            for table, counts in land.tables.items():
                totals[table].add(counts)
        return totals

    @property
    def created(self) -> int:
        return sum(counts.created for counts in self.totals().values())

    @property
    def updated(self) -> int:
        return sum(counts.updated for counts in self.totals().values())

    def summary_lines(self) -> list[str]:
        lines = [f"Imported {len(self.lands)} land(s) from {self.path} in {self.seconds:.1f} s"]
        for land in self.lands:
            state = "new" if land.created else "already present"
            lines.append(f"Land {land.name!r} ({state}, id {land.land_id}):")
            for table, counts in land.tables.items():
                lines.append(f"  {table:<14} {counts.describe()}")
            if land.warnings:
                warnings = ", ".join(f"{count} {what}" for what, count in sorted(land.warnings.items()))
                lines.append(f"  warnings: {warnings}")
        totals = self.totals()
        skipped = sum(counts.skipped_total for counts in totals.values())
        present = sum(counts.present for counts in totals.values())
        lines.append(
            f"Total: {self.created} created, {present} already present ({self.updated} updated), {skipped} skipped"
        )
        return lines


@dataclass(frozen=True)
class ProgressUpdate:
    """Rows of one land handled so far (every table counted), and the step being run."""

    land: str
    step: str
    done: int
    total: int


ProgressCallback = Callable[[ProgressUpdate], None]
