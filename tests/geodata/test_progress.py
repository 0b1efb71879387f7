"""Progress bars of the importers."""

from __future__ import annotations

from twin.geodata.progress import progress_bar


def test_bar_is_named_after_the_file_and_counts(capsys):
    with progress_bar(True, "/data/city.osm.pbf", total=4, unit=" buildings") as bar:
        bar.update(4)
    err = capsys.readouterr().err
    assert "city.osm.pbf: 100%" in err and "4/4" in err and "buildings" in err


def test_disabled_bar_prints_nothing(capsys):
    with progress_bar(False, "city.osm.pbf", total=4) as bar:
        bar.update(4)
    assert capsys.readouterr().err == ""
