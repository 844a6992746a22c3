"""The media CSV's lines joined from columns of cells, without the csv module: SQLite's path.

On SQLite the database cannot write the lines cheaply (``exports.sqlcsv``): building a cell there is a
function call of its byte-code per cell. So the values are read as the row-by-row path reads them
(``rows.ColumnReader``, the same query and conversions), and what costs per cell is moved to a few calls per
column and chunk:

* the csv module's writer, which looks at every field, is replaced by one ``%`` template per chunk: each
  column's cells are the texts between their quotes, found by checks over the column's texts joined once
  (only the columns holding a ``"`` are rewritten, with one ``replace``);
* a column empty in the whole chunk is written into the template as ``""`` and read no further (no
  conversion, no render, no per-cell blanking);
* the columns the driver gives as they are (numbers, text) are checked by type and by one look at their
  joined text (a formula start, a NUL, a quote) instead of ``csv_cells`` and the quoting check each.

The rows are those of the row-by-row path's query, read by the same reader, but selected by their ids
(``_ordered``), which spares SQLite the sort of whole rows. SQLite's read settings (a larger page cache,
memory-mapped reads) were measured to gain nothing here, and would make the process's memory grow
(``docs/benchmarks/scale.md``).

The bytes are those of ``services.produce_mediacsv_by_rows`` (``QUOTE_ALL``, CRLF): every cell is the one
that path hands to the csv writer, written as the writer writes it (None empty, floats with ``repr``, other
values with ``str``, quotes doubled). Any value the fast checks do not vouch for goes through the same
``csv_cells`` as that path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.db.models import QuerySet

from exports.columns import MediaColumn, MediaCsvLines, MediaCsvSources
from exports.rows import ColumnReader, json_rendered
from exports.writers import _FORMULA_STARTS, csv_cells
from lands.models import AnalysisStatus

_EMPTY: dict[Any, str] = {None: ""}
_NONE = type(None)
_NUMBERS = frozenset({_NONE, int, float})
_TEXTS = frozenset({_NONE, str})
# Between the texts of a column joined with NUL: a text that starts like a formula. A text holding a NUL is
# found by counting the NULs, so each NUL here is a separator.
_JOINED_FORMULA = re.compile("\x00[" + re.escape("".join(_FORMULA_STARTS)) + "]")
Texts = Sequence[Any]


def _quoted(texts: Texts) -> Texts:
    """Texts with their quotes doubled. The texts hold no NUL (the callers check it, or ``csv_cell`` removed
    it); should one still, the column is rewritten text by text."""
    joined = "\x00".join(texts)
    if '"' not in joined:
        return texts
    split = joined.replace('"', '""').split("\x00")
    return split if len(split) == len(texts) else [text.replace('"', '""') for text in texts]


def cell_texts(cells: Sequence[Any]) -> Texts | None:
    """The texts the csv writer puts between the quotes of cells made by ``csv_cells`` (None, numbers,
    text); None when every cell is empty."""
    kinds = set(map(type, cells))
    if kinds == {_NONE}:
        return None
    texts: Texts = list(map(_EMPTY.get, cells, cells)) if _NONE in kinds else cells
    if not _TEXTS.issuperset(kinds):
        # Numbers: ``str`` is what the writer writes (for a float, its ``repr``).
        texts = [text if text.__class__ is str else str(text) for text in texts]
    return _quoted(texts)


def value_texts(values: Sequence[Any], raw: bool) -> Texts | None:
    """``cell_texts(csv_cells(values, raw=raw))`` for values as the driver gives them, checked per column:
    numbers are written as they are, text when none of it starts like a formula (unless ``raw``) nor holds
    a NUL; any other column goes through ``csv_cells``."""
    kinds = set(map(type, values))
    if kinds == {_NONE}:
        return None
    if _NUMBERS.issuperset(kinds):
        return list(map(_EMPTY.get, values, values)) if _NONE in kinds else values
    if _TEXTS.issuperset(kinds):
        texts: Texts = list(map(_EMPTY.get, values, values)) if _NONE in kinds else values
        joined = "\x00".join(texts)
        if joined.count("\x00") == len(texts) - 1 and (
            raw or not (joined.startswith(_FORMULA_STARTS) or _JOINED_FORMULA.search(joined))
        ):
            if '"' not in joined:
                return texts
            return joined.replace('"', '""').split("\x00")
    return cell_texts(csv_cells(values, raw=raw))


class ColumnLines(MediaCsvLines):
    """The media CSV of a queryset on SQLite, a chunk of rows at a time."""

    def stream(self, counts: Callable[[int], None]) -> Iterator[bytes]:
        """The CSV's bytes, a chunk of rows at a time (``counts`` is told how many rows each chunk held)."""
        yield self.header().encode()
        yield from self._chunks(counts)

    def _chunks(self, counts: Callable[[int], None]) -> Iterator[bytes]:
        sources = MediaCsvSources.of(self.columns)
        reader = ColumnReader(self._ordered(), sources.paths, chunk_size=self.chunk_size)
        plain = reader.plain_columns()
        # Sources written as they are that the driver gives as they are: checked here, not by the reader.
        own = sources.cells & plain
        raw, stale_values, is_done = self.raw, self.stale_values, str(AnalysisStatus.DONE.value).__eq__
        templates: dict[tuple[bool, ...], str] = {}
        chunks = reader.chunks(csv_columns=sorted(sources.cells - own), text_columns=sorted(sources.json), raw=raw)
        for chunk in chunks:
            count = len(chunk[0])
            status = chunk[sources.status]
            stale = () if stale_values else [at for at, value in enumerate(map(is_done, status)) if not value]
            # any() stops at the first value in a column that has some.
            empty = [not any(values) and values.count(None) == count for values in chunk]
            decoded: dict[int, Sequence[Any]] = {}
            made: dict[int, Texts | None] = {}
            texts: list[Texts | None] = []
            for column, indexes in zip(self.columns, sources.positions, strict=True):
                first = indexes[0]
                blank = bool(stale) and column.analysis_value
                cells: Sequence[Any] | None = None
                text: Texts | None = None
                if column.render_json is not None and first in sources.json:
                    if not empty[first]:
                        cells = json_rendered(column, reader, first, chunk[first], self.raw)
                elif column.render is not None:
                    cells = self._rendered(column, reader, indexes, chunk, empty, sources, decoded)
                elif not blank and first in made:
                    texts.append(made[first])
                    continue
                elif empty[first]:
                    pass
                elif first in sources.cells and first not in own:
                    cells = chunk[first]
                else:
                    # Values: written as they are (own), or through csv_cells as the row-by-row path does.
                    values = self._values(reader, first, chunk, sources, decoded)
                    text = value_texts(_blanked(values, stale) if blank else values, raw)
                    if not blank:
                        made[first] = text
                    texts.append(text)
                    continue
                if cells is not None:
                    text = cell_texts(_blanked(cells, stale) if blank else cells)
                if column.render is None and not blank:
                    made[first] = text
                texts.append(text)
            shape = tuple(text is None for text in texts)
            template = templates.get(shape)
            if template is None:
                template = templates[shape] = '"' + '","'.join("" if none else "%s" for none in shape) + '"\r\n'
            filled = [text for text in texts if text is not None]
            lines = map(template.__mod__, zip(*filled, strict=True))
            counts(count)
            yield "".join(lines).encode("utf-8", "replace")

    def _ordered(self) -> QuerySet:
        """The queryset's rows by id, selected as ``id IN (the queryset's ids)``: SQLite then walks the ids
        in order (the subquery's list is kept sorted) and reads each row by its key, where the queryset's
        own joins would make it sort the whole rows, every column, afterwards. The same rows, in one
        statement (one snapshot)."""
        queryset = self.queryset
        model = queryset.model
        return model._base_manager.using(queryset.db).filter(pk__in=queryset.values("pk")).order_by("id")

    def _rendered(
        self,
        column: MediaColumn,
        reader: ColumnReader,
        indexes: tuple[int, ...],
        chunk: list[Sequence[Any]],
        empty: list[bool],
        sources: MediaCsvSources,
        decoded: dict[int, Sequence[Any]],
    ) -> Sequence[Any] | None:
        """A rendered column's cells; when all its sources are empty, the render of empty values once."""
        render = column.render
        assert render is not None
        count = len(chunk[0])
        if all(empty[index] for index in indexes):
            cell = csv_cells([render(*(None for _ in indexes))], raw=self.raw)[0]
            return None if cell is None or cell == "" else [cell] * count
        values = [self._values(reader, index, chunk, sources, decoded) for index in indexes]
        return csv_cells(list(map(render, *values)), raw=self.raw)

    @staticmethod
    def _values(
        reader: ColumnReader,
        index: int,
        chunk: list[Sequence[Any]],
        sources: MediaCsvSources,
        decoded: dict[int, Sequence[Any]],
    ) -> Sequence[Any]:
        """A source's values as a render takes them (a JSON source decoded once per chunk)."""
        if index not in sources.decoded:
            return chunk[index]
        if index not in decoded:
            decoded[index] = reader.decode(index, chunk[index])
        return decoded[index]


def _blanked(values: Sequence[Any], stale: Sequence[int]) -> list[Any]:
    """The values with those of media whose latest attempt did not succeed left empty."""
    blanked = list(values)
    for at in stale:
        blanked[at] = None
    return blanked
