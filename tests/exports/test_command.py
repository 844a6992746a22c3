"""python manage.py export_land."""

from __future__ import annotations

import dataclasses
import re
from io import StringIO

import networkx as nx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from exports import services
from exports.management.commands.export_land import Command
from tests.exports.helpers import read_csv, run_export


def export(*args: str) -> str:
    out = StringIO()
    call_command("export_land", *args, stdout=out)
    return out.getvalue()


def test_default_file_name_and_summary(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    output = export("--land-id", str(corpus.land.pk), "--type", "pagecsv")
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    # "Corpus Été/2024: test": accents folded, separators and slashes replaced.
    assert re.fullmatch(r"export_land_Corpus_Ete_2024_test_pagecsv_\d{8}_\d{6}\.csv", files[0].name)
    assert output == f"Exported 4 records of land {corpus.land.name!r} (pagecsv) to {files[0]}\n"
    assert files[0].read_bytes() == run_export(corpus.land, "pagecsv")[0]


def test_output_path_options_and_gexf_summary(corpus, tmp_path):
    target = tmp_path / "graph.gexf"
    output = export(
        "--land-id", str(corpus.land.pk), "--type", "mediagexf", "--nodes", "domain",
        "--media-types", "img", "--minrel", "0", "--depth", "1", "--include-failed", "--output", str(target),
    )  # fmt: skip
    graph = nx.read_gexf(target, version="1.3")
    # Domains a and b hold images within depth 1 (p4 and p5 are deeper); images: shared, pending URL, broken (kept).
    assert graph.number_of_nodes() == 5
    assert output.startswith(f"Exported 5 records and {graph.number_of_edges()} edges of land")
    assert output.rstrip().endswith(str(target))
    assert not list(tmp_path.glob("*.part"))


def test_output_directory_gets_the_default_name(corpus, tmp_path):
    export("--land-id", str(corpus.land.pk), "--type", "mediacsv", "--output", str(tmp_path))
    (written,) = tmp_path.iterdir()
    assert written.name.startswith("export_land_Corpus_Ete_2024_test_mediacsv_")
    assert len(read_csv(written.read_bytes())[1]) == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--land-id", "999999", "--type", "pagecsv"], "Land 999999 does not exist"),
        (["--type", "pdf"], "Unknown export type 'pdf'; choose among pagecsv, fullpagecsv"),
        (["--type", "pagecsv", "--minrel", "high"], "minrel must be a non-negative integer or all, got 'high'"),
        (["--type", "pagecsv", "--depth", "-1"], "depth must be a non-negative integer, got -1"),
        (["--type", "mediacsv", "--media-types", "img,gif"], "Unknown media type(s) gif"),
        (["--type", "pagecsv", "--media-types", "img"], "media_types applies to the media exports"),
        (["--type", "nodegexf", "--nodes", "domain"], "nodes applies to mediagexf only"),
        (["--type", "mediagexf", "--nodes", "site"], "nodes must be one of page, domain"),
        (["--type", "pagecsv", "--output", "/nonexistent-dir/x.csv"], "Directory /nonexistent-dir does not exist"),
    ],
)
def test_bad_options_are_command_errors(corpus, args, message):
    if "--land-id" not in args:
        args = ["--land-id", str(corpus.land.pk), *args]
    with pytest.raises(CommandError) as error:
        export(*args)
    assert message in str(error.value)


def test_errors_exit_non_zero(corpus, capsys):
    with pytest.raises(SystemExit) as exit_info:
        Command().run_from_argv(["manage.py", "export_land", "--land-id", str(corpus.land.pk), "--type", "xls"])
    assert exit_info.value.code != 0
    assert "Unknown export type 'xls'" in capsys.readouterr().err


def test_a_failed_export_leaves_no_file(corpus, tmp_path, monkeypatch):
    def failing(land, options, counts):
        yield b'"id"\r\n'
        raise RuntimeError("database went away")

    spec = services.EXPORT_TYPES["pagecsv"]
    monkeypatch.setitem(services.EXPORT_TYPES, "pagecsv", dataclasses.replace(spec, produce=failing))
    with pytest.raises(RuntimeError, match="went away"):
        export("--land-id", str(corpus.land.pk), "--type", "pagecsv", "--output", str(tmp_path / "out.csv"))
    assert list(tmp_path.iterdir()) == []


def test_stale_values_option_writes_kept_values(corpus, tmp_path):
    target = tmp_path / "media.csv"
    export("--land-id", str(corpus.land.pk), "--type", "mediacsv", "--output", str(target))
    default = target.read_bytes()
    export("--land-id", str(corpus.land.pk), "--type", "mediacsv", "--stale-values", "--output", str(target))

    assert default == run_export(corpus.land, "mediacsv")[0]
    assert target.read_bytes() == run_export(corpus.land, "mediacsv", stale_values=True)[0]
    # The failed media's kept hash is written only on request.
    assert corpus.media["m8"].image_hash.encode() not in default
    assert corpus.media["m8"].image_hash.encode() in target.read_bytes()
