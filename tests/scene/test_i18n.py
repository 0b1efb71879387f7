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
