"""All user-interface strings in one place: German (default) and English.

Each key has a German and an English text. Where the plain-language "einfache Ansicht"
(simple view) words things differently, the simple variant sits in :data:`SIMPLE`; otherwise
the normal text is used. Texts may hold ``str.format`` fields (``{n}``).

Examples
--------
>>> t("app.live"), t("app.live", "en")
('Live', 'Live')
>>> t("card.height_source.levels", "en")
'from the number of storeys'
>>> t("search.results", "en", n=3)
'3 results'
"""

from __future__ import annotations

from datetime import UTC, datetime

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"

#: key → (German, English).
STRINGS: dict[str, tuple[str, str]] = {
    # application frame
    "app.title": ("Digitaler Zwilling Ludwigshafen", "Ludwigshafen digital twin"),
    "app.synthetic": (
        "Synthetische Demo-Stadt (generiert, keine echten Daten)",
        "Synthetic demo city (generated, not real data)",
    ),
    "app.live": ("Live", "Live"),
    "app.loading": ("Lädt …", "Loading …"),
    "app.language": ("Sprache", "Language"),
    "app.language.de": ("Deutsch", "German"),
    "app.language.en": ("Englisch", "English"),
    "app.simple_view": ("Einfache Ansicht", "Simple view"),
    "app.standard_view": ("Standardansicht", "Standard view"),
    "app.quantity": ("Messgröße", "Quantity"),
    "app.reset_camera": ("Ansicht zurücksetzen", "Reset view"),
    "app.bookmarks": ("Orte", "Places"),
    "app.attribution": ("Datenquellen", "Data sources"),
    "app.close": ("Schließen", "Close"),
    "app.help": ("Hilfe", "Help"),
    "app.help_text": (
        "Ziehen dreht die Ansicht, Mausrad zoomt. Klicken Sie ein Gebäude oder einen Sensor an.",
        "Drag to rotate, scroll to zoom. Click a building or a sensor.",
    ),
    # time
    "time.title": ("Zeit", "Time"),
    "time.play": ("Abspielen", "Play"),
    "time.pause": ("Anhalten", "Pause"),
    "time.live": ("Zurück zu Live", "Back to live"),
    "time.as_of": ("Stand: {time}", "As of {time}"),
    "time.no_history": ("Noch keine Messwerte gespeichert", "No readings stored yet"),
    "time.ago.now": ("gerade eben", "just now"),
    "time.ago.minute": ("vor 1 Minute", "1 minute ago"),
    "time.ago.minutes": ("vor {n} Minuten", "{n} minutes ago"),
    "time.ago.hour": ("vor 1 Stunde", "1 hour ago"),
    "time.ago.hours": ("vor {n} Stunden", "{n} hours ago"),
    "time.ago.yesterday": ("gestern um {time} Uhr", "yesterday at {time}"),
    "time.ago.days": ("vor {n} Tagen", "{n} days ago"),
    "chart.start": ("vor 24 Stunden", "24 hours ago"),
    "chart.end": ("jetzt", "now"),
    # legend
    "legend.title": ("Legende", "Legend"),
    "legend.stale": ("Veraltet (keine aktuelle Messung)", "Stale (no recent reading)"),
    "legend.no_data": ("Sensor ohne Messwert", "Sensor without a reading"),
    "legend.no_sensor": ("Kein Sensor", "No sensor"),
    "legend.threshold": ("Grenzwert", "Threshold"),
    # building card
    "card.building": ("Gebäude", "Building"),
    "card.id": ("Kennung", "ID"),
    "card.name": ("Name", "Name"),
    "card.address": ("Adresse", "Address"),
    "card.type": ("Nutzung", "Use"),
    "card.height": ("Höhe", "Height"),
    "card.levels": ("Geschosse", "Storeys"),
    "card.height_source": ("Wie die Höhe bestimmt wurde", "How the height was determined"),
    "card.height_source.measured": ("gemessen", "measured"),
    "card.height_source.levels": ("aus der Geschosszahl", "from the number of storeys"),
    "card.height_source.default": ("Schätzwert (Standardhöhe)", "estimate (default height)"),
    "card.height_source.geometry": ("aus der 3D-Geometrie", "from the 3D geometry"),
    "card.sensors": ("Sensoren", "Sensors"),
    "card.readings": ("Messwerte", "Readings"),
    "card.no_sensors": ("Keine Sensoren an diesem Gebäude", "No sensors at this building"),
    "card.history": ("Letzte 24 Stunden", "Last 24 hours"),
    "card.unnamed": ("Gebäude ohne Namen", "Unnamed building"),
    "card.synthetic_note": (
        "Erfundene Daten der Demo-Stadt",
        "Made-up data of the demo city",
    ),
    # device card and sensor table
    "device.title": ("Sensor", "Sensor"),
    "device.id": ("Gerät", "Device"),
    "device.kind": ("Art", "Kind"),
    "device.dev_eui": ("DevEUI", "DevEUI"),
    "device.building": ("Gebäude", "Building"),
    "device.distance": ("Abstand zum Gebäude", "Distance to building"),
    "device.unbound": ("Keinem Gebäude zugeordnet", "Not bound to a building"),
    "device.last_seen": ("Zuletzt gesehen", "Last seen"),
    "device.never_seen": ("Noch nie gesehen", "Never seen"),
    "device.rssi": ("Signalstärke (RSSI)", "Signal strength (RSSI)"),
    "device.signal.4": ("sehr gut", "very good"),
    "device.signal.3": ("gut", "good"),
    "device.signal.2": ("mittel", "fair"),
    "device.signal.1": ("schwach", "weak"),
    "device.snr": ("Signal-Rausch-Abstand (SNR)", "Signal-to-noise ratio (SNR)"),
    "device.value": ("Messwert", "Value"),
    "device.stale": ("veraltet", "stale"),
    "table.title": ("Sensoren im Blick", "Sensors in view"),
    "table.device": ("Sensor", "Sensor"),
    "table.quantity": ("Messgröße", "Quantity"),
    "table.value": ("Wert", "Value"),
    "table.time": ("Zeit", "Time"),
    "table.building": ("Gebäude", "Building"),
    "table.empty": ("Keine Sensoren", "No sensors"),
    # search
    "search.label": ("Suche", "Search"),
    "search.placeholder": ("Straße, Gebäude oder Sensor", "Street, building or sensor"),
    "search.results": ("{n} Treffer", "{n} results"),
    "search.none": ("Nichts gefunden", "Nothing found"),
    "search.kind.street": ("Straße", "Street"),
    "search.kind.building": ("Gebäude", "Building"),
    "search.kind.device": ("Sensor", "Sensor"),
    "search.kind.address": ("Adresse", "Address"),
    # tour / kiosk
    "tour.title": ("Rundflug", "Tour"),
    "tour.start": ("Rundflug starten", "Start tour"),
    "tour.stop": ("Rundflug beenden", "Stop tour"),
    "tour.paused": ("Pausiert – geht gleich weiter", "Paused – resumes shortly"),
    "kiosk.reconnecting": ("Verbindung wird wiederhergestellt …", "Reconnecting …"),
    # problems
    "error.database": (
        "Die Sensordatenbank ist nicht erreichbar. Neuer Versuch läuft …",
        "The sensor database is unavailable. Retrying …",
    ),
    "error.feed": (
        "Der Sensor-Datenstrom ist unterbrochen. Neuer Versuch läuft …",
        "The sensor feed is interrupted. Retrying …",
    ),
    "error.no_city": ("Keine Stadt geladen", "No city loaded"),
    # layers
    "layer.buildings": ("Gebäude", "Buildings"),
    "layer.sensors": ("Sensoren", "Sensors"),
    "layer.river": ("Fluss", "River"),
    "layer.park": ("Grünflächen", "Parks"),
    "layer.street": ("Straßen", "Streets"),
    "layer.ground": ("Gelände", "Ground"),
}

#: Plain-language variants for the simple view, key → (German, English).
SIMPLE: dict[str, tuple[str, str]] = {
    "app.quantity": ("Was wird gezeigt?", "What is shown?"),
    "app.reset_camera": ("Zurück zum Anfang", "Back to the start"),
    "app.help_text": (
        "Tippen Sie auf ein Haus, um mehr zu erfahren.",
        "Tap a house to learn more.",
    ),
    "legend.stale": ("Alter Wert", "Old value"),
    "legend.no_data": ("Noch kein Wert", "No value yet"),
    "legend.no_sensor": ("Ohne Messgerät", "No measuring device"),
    "card.building": ("Haus", "House"),
    "card.sensors": ("Messgeräte", "Measuring devices"),
    "card.no_sensors": ("Hier misst nichts", "Nothing is measured here"),
    "card.height_source": ("So wissen wir die Höhe", "How we know the height"),
    "card.height_source.default": ("geschätzt", "guessed"),
    "card.height_source.levels": ("aus der Zahl der Stockwerke", "from the number of floors"),
    "card.levels": ("Stockwerke", "Floors"),
    "device.title": ("Messgerät", "Measuring device"),
    "device.rssi": ("Funk-Empfang", "Radio reception"),
    "device.snr": ("Funk-Qualität", "Radio quality"),
    "device.last_seen": ("Letzte Meldung", "Last message"),
    "device.id": ("Gerätenummer", "Device number"),
    "card.id": ("Gebäudenummer", "Building number"),
    "time.live": ("Zur aktuellen Zeit", "Back to now"),
    "legend.threshold": ("Warnwert", "Warning level"),
    "table.title": ("Messgeräte", "Measuring devices"),
    "table.device": ("Messgerät", "Device"),
    "search.placeholder": ("Straße oder Gebäude suchen", "Find a street or building"),
    "time.play": ("Zeitraffer", "Fast forward"),
    "error.database": (
        "Gerade keine Messwerte. Wir versuchen es weiter.",
        "No readings right now. We keep trying.",
    ),
    "error.feed": (
        "Gerade keine neuen Messwerte. Wir versuchen es weiter.",
        "No new readings right now. We keep trying.",
    ),
}


def t(key: str, lang: str = DEFAULT_LANGUAGE, *, simple: bool = False, **fields: object) -> str:
    """Return the UI text of ``key`` in ``lang``.

    Parameters
    ----------
    key : str
        A key of :data:`STRINGS`.
    lang : {"de", "en"}
        Language; anything else falls back to German.
    simple : bool
        Use the plain-language variant of the simple view when there is one.
    **fields
        Values for ``{name}`` fields in the text.

    Returns
    -------
    str
        The text; the key itself when it is unknown (and a warning is logged once).
    """
    i = 1 if lang == "en" else 0
    entry = SIMPLE.get(key) if simple else None
    if entry is None:
        entry = STRINGS.get(key)
    if entry is None:
        _warn_missing(key)
        return key
    text = entry[i]
    return text.format(**fields) if fields else text


#: Hours within which an earlier time of the same day is said as "n hours ago".
SAME_DAY_HOURS = 12


def relative_time(
    when: datetime, lang: str = DEFAULT_LANGUAGE, *, now: datetime | None = None
) -> str:
    """Say how long ago ``when`` was, in plain words ("vor 3 Minuten", "gestern um 18:05 Uhr").

    Parameters
    ----------
    when : datetime.datetime
        A timezone-aware moment in the past.
    lang : {"de", "en"}
        Language.
    now : datetime.datetime, optional
        The present (default: the clock); aware.

    Returns
    -------
    str
        "gerade eben" under a minute, minutes under an hour, hours on the same day (or within
        :data:`SAME_DAY_HOURS`), "gestern um HH:MM Uhr" on the day before, else days.
        A time in the future (clock skew) counts as "just now".

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    >>> relative_time(now - timedelta(minutes=3), now=now)
    'vor 3 Minuten'
    >>> relative_time(now - timedelta(hours=2), "en", now=now)
    '2 hours ago'
    """
    now = datetime.now(UTC) if now is None else now
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return t("time.ago.now", lang)
    minutes = int(seconds // 60)
    if minutes < 60:
        if minutes == 1:
            return t("time.ago.minute", lang)
        return t("time.ago.minutes", lang, n=minutes)
    hours = int(seconds // 3600)
    local_when, local_now = when.astimezone(), now.astimezone()
    days = (local_now.date() - local_when.date()).days
    if days == 0 or (hours < SAME_DAY_HOURS and days == 1):
        return t("time.ago.hour", lang) if hours == 1 else t("time.ago.hours", lang, n=hours)
    if days == 1:
        clock = local_when.strftime("%H:%M" if lang != "en" else "%I:%M %p").lstrip("0")
        return t("time.ago.yesterday", lang, time=clock)
    return t("time.ago.days", lang, n=days)


def strings(lang: str = DEFAULT_LANGUAGE, *, simple: bool = False) -> dict[str, str]:
    """Return every UI text in ``lang`` as ``{key: text}`` (for the app's state)."""
    return {key: t(key, lang, simple=simple) for key in STRINGS}


_missing: set[str] = set()


def _warn_missing(key: str) -> None:
    if key not in _missing:
        import logging

        _missing.add(key)
        logging.getLogger(__name__).warning("no UI text for key %r", key)


#: Names of quantities that have no colour style, by their base name (without the
#: Cayenne channel suffix ``_3`` and without a dotted prefix).
QUANTITY_LABELS: dict[str, tuple[str, str]] = {
    "battery": ("Batterie", "Battery"),
    "voltage": ("Spannung", "Voltage"),
    "pressure": ("Luftdruck", "Air pressure"),
    "barometric_pressure": ("Luftdruck", "Air pressure"),
    "wind_speed": ("Windgeschwindigkeit", "Wind speed"),
    "wind_direction": ("Windrichtung", "Wind direction"),
    "rain": ("Niederschlag", "Rain"),
    "illuminance": ("Helligkeit", "Illuminance"),
    "luminosity": ("Helligkeit", "Luminosity"),
    "power": ("Leistung", "Power"),
    "energy": ("Zählerstand", "Meter reading"),  # a cumulative kWh count
    "relative_humidity": ("Luftfeuchte", "Humidity"),
    "water_level": ("Wasserstand", "Water level"),
}


def quantity_label(quantity: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """Return a readable name of a stored quantity that has no colour style.

    Parameters
    ----------
    quantity : str
        The stored name, e.g. ``"battery"``, ``"barometric_pressure_0"``, ``"env.wind_speed"``.
    lang : {"de", "en"}
        Language.

    Returns
    -------
    str
        The label, or the stored name itself when none is known.

    Examples
    --------
    >>> quantity_label("barometric_pressure_0")
    'Luftdruck'
    """
    base = quantity.rsplit(".", 1)[-1]
    stem, _, channel = base.rpartition("_")
    if stem and channel.isdigit():
        base = stem
    entry = QUANTITY_LABELS.get(base.lower())
    if entry is None:
        return quantity
    return entry[1 if lang == "en" else 0]


def format_number(value: float, unit: str = "", lang: str = DEFAULT_LANGUAGE) -> str:
    """Format a number for people: at most 3 significant decimals, no exponent, ``,`` in German.

    Examples
    --------
    >>> format_number(1255070.6, "kWh")
    '1.255.071 kWh'
    >>> format_number(3.5, "V", "en")
    '3.5 V'
    """
    decimals = 0 if abs(value) >= 1000 else 1 if abs(value) >= 100 else 2 if abs(value) >= 1 else 3
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if lang != "en":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return f"{text} {unit}".strip()


#: Building types (OSM ``building=*`` values, also used by the demo city) in both languages.
BUILDING_TYPES: dict[str, tuple[str, str]] = {
    "yes": ("Gebäude", "Building"),
    "house": ("Wohnhaus", "House"),
    "detached": ("Einfamilienhaus", "Detached house"),
    "semidetached_house": ("Doppelhaushälfte", "Semi-detached house"),
    "terrace": ("Reihenhaus", "Terraced house"),
    "residential": ("Wohngebäude", "Residential building"),
    "apartments": ("Mehrfamilienhaus", "Apartment building"),
    "commercial": ("Geschäftshaus", "Commercial building"),
    "retail": ("Einzelhandel", "Retail"),
    "office": ("Bürogebäude", "Office building"),
    "industrial": ("Industriegebäude", "Industrial building"),
    "warehouse": ("Lagerhalle", "Warehouse"),
    "garage": ("Garage", "Garage"),
    "garages": ("Garagen", "Garages"),
    "shed": ("Schuppen", "Shed"),
    "school": ("Schule", "School"),
    "library": ("Bibliothek", "Library"),
    "townhall": ("Rathaus", "Town hall"),
    "civic": ("Öffentliches Gebäude", "Civic building"),
    "public": ("Öffentliches Gebäude", "Public building"),
    "fire_station": ("Feuerwache", "Fire station"),
    "parking": ("Parkhaus", "Parking garage"),
    "sports_hall": ("Sporthalle", "Sports hall"),
    "swimming_pool": ("Schwimmbad", "Swimming pool"),
    "church": ("Kirche", "Church"),
    "hospital": ("Krankenhaus", "Hospital"),
    "train_station": ("Bahnhof", "Train station"),
}


def building_type_label(value: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """Return a readable name of a building type (``"townhall"`` → ``"Rathaus"``).

    Unknown types come back as given, with underscores as spaces.

    Examples
    --------
    >>> building_type_label("townhall")
    'Rathaus'
    >>> building_type_label("fire_station", "en")
    'Fire station'
    """
    entry = BUILDING_TYPES.get(value.strip().lower())
    if entry is None:
        return value.replace("_", " ")
    return entry[1 if lang == "en" else 0]
