"""UI strings: every key in German and English, simple-view variants, formatting."""

from __future__ import annotations

import string

from twin.scene.i18n import SIMPLE, STRINGS, strings, t


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_exists_in_both_languages():
    de, en = strings("de"), strings("en")
    assert set(de) == set(en) == set(STRINGS)
    for key in STRINGS:
        assert de[key].strip() and en[key].strip(), key
        assert fields(de[key]) == fields(en[key]), key


def test_simple_variants_exist_for_known_keys_in_both_languages():
    assert set(SIMPLE) <= set(STRINGS)
    simple_de, simple_en = strings("de", simple=True), strings("en", simple=True)
    assert set(simple_de) == set(simple_en) == set(STRINGS)
    for key, (de, en) in SIMPLE.items():
        assert de.strip() and en.strip()
        assert simple_de[key] == de and simple_en[key] == en
        assert fields(de) == fields(en) == fields(STRINGS[key][0]), key
    # keys without a simple variant fall back to the normal text
    assert t("app.live", simple=True) == t("app.live")


def test_german_is_the_default_and_unknown_languages_fall_back():
    assert t("app.simple_view") == "Einfache Ansicht"
    assert t("app.simple_view", "en") == "Simple view"
    assert t("app.simple_view", "fr") == "Einfache Ansicht"
    assert t("card.building", simple=True) == "Haus"


def test_fields_and_unknown_keys():
    assert t("search.results", "de", n=4) == "4 Treffer"
    assert t("no.such.key") == "no.such.key"


def test_synthetic_label_matches_the_required_wording():
    assert t("app.synthetic") == "Synthetische Demo-Stadt (generiert, keine echten Daten)"


def test_unstyled_quantities_get_readable_labels_and_numbers():
    from twin.scene.i18n import format_number, quantity_label

    assert quantity_label("barometric_pressure_0") == "Luftdruck"
    assert quantity_label("battery", "en") == "Battery"
    assert quantity_label("env.wind_speed") == "Windgeschwindigkeit"
    assert quantity_label("something_else") == "something_else"
    assert format_number(1255070.6, "kWh") == "1.255.071 kWh"
    assert format_number(1255070.6, "kWh", "en") == "1,255,071 kWh"
    assert format_number(3.5, "V") == "3,5 V"
    assert format_number(1022.7, "hPa") == "1.023 hPa"
    assert "e+" not in format_number(1.25507e6)


def test_building_types_are_translated():
    from twin.scene.i18n import building_type_label

    assert building_type_label("townhall") == "Rathaus"
    assert building_type_label("townhall", "en") == "Town hall"
    assert building_type_label("some_new_type") == "some new type"


def test_relative_time_in_plain_words():
    from datetime import UTC, datetime, timedelta

    from twin.scene.i18n import relative_time

    now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    ago = {
        timedelta(seconds=20): ("gerade eben", "just now"),
        timedelta(minutes=1, seconds=5): ("vor 1 Minute", "1 minute ago"),
        timedelta(minutes=3): ("vor 3 Minuten", "3 minutes ago"),
        timedelta(hours=1, minutes=10): ("vor 1 Stunde", "1 hour ago"),
        timedelta(hours=2): ("vor 2 Stunden", "2 hours ago"),
        timedelta(days=5): ("vor 5 Tagen", "5 days ago"),
        timedelta(seconds=-30): ("gerade eben", "just now"),  # clock skew: not "in 30 s"
    }
    for delta, (de, en) in ago.items():
        assert relative_time(now - delta, "de", now=now) == de, delta
        assert relative_time(now - delta, "en", now=now) == en, delta
    # the evening before (in local time): "gestern" with the clock time
    local_now = now.astimezone()
    evening = (local_now - timedelta(days=1)).replace(hour=18, minute=5)
    morning = local_now.replace(hour=9, minute=0)
    assert relative_time(evening, "de", now=morning) == "gestern um 18:05 Uhr"
    assert relative_time(evening, "en", now=morning) == "yesterday at 6:05 PM"
