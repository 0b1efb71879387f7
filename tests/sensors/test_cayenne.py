"""Cayenne LPP: The Things Stack's documented vectors, its names, and the careful detector."""

from __future__ import annotations

import base64

import pytest

from twin.errors import DecodeError
from twin.sensors.decode.cayenne import decode_lpp, looks_like_lpp


def lpp(text: str) -> dict:
    return {k: v for k, (v, _unit) in decode_lpp(base64.b64decode(text)).items()}


def test_ttn_docs_vector_two_temperatures():
    assert lpp("A2cBEAVnAP8=") == {"temperature_3": 27.2, "temperature_5": 25.5}


def test_ttn_docs_vector_pressure_and_temperature():
    assert lpp("AHMnvwBnAN4=") == {"barometric_pressure_0": 1017.5, "temperature_0": 22.2}


def test_units():
    values = decode_lpp(base64.b64decode("AHMnvwBnAN4="))
    assert values["barometric_pressure_0"][1] == "hPa"
    assert values["temperature_0"][1] == "°C"


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        # The original types, with The Things Stack's names.
        ("0100" + "01", {"digital_input_1": 1.0}),
        ("0201" + "00", {"digital_output_2": 0.0}),
        ("0302" + "FF9C", {"analog_input_3": -1.0}),
        ("0403" + "0140", {"analog_output_4": 3.2}),
        ("0565" + "0104", {"luminosity_5": 260.0}),
        ("0666" + "01", {"presence_6": 1.0}),
        ("0767" + "FF38", {"temperature_7": -20.0}),
        ("0868" + "61", {"relative_humidity_8": 48.5}),
        ("0973" + "2767", {"barometric_pressure_9": 1008.7}),
        (
            "0A71" + "04D2FB2E0064",
            {"accelerometer_10.x": 1.234, "accelerometer_10.y": -1.234, "accelerometer_10.z": 0.1},
        ),
        (
            "0B86" + "0064FF9C03E8",
            {"gyrometer_11.x": 1.0, "gyrometer_11.y": -1.0, "gyrometer_11.z": 10.0},
        ),
        # Extended types (ElectronicCats/RAKwireless).
        ("0C74" + "014F", {"voltage_12": 3.35}),
        ("0D7D" + "01F4", {"concentration_13": 500.0}),
        ("0E78" + "4B", {"percentage_14": 75.0}),
        ("0F75" + "03E8", {"current_15": 1.0}),
        ("108E" + "01", {"switch_16": 1.0}),
    ],
)
def test_types(frame, expected):
    assert {k: v for k, (v, _u) in decode_lpp(bytes.fromhex(frame)).items()} == expected


def test_gps_has_dotted_names():
    # LPP spec example: 42.3519 N, -87.9094 E, 10 m.
    values = decode_lpp(bytes.fromhex("018806765ff2960a0003e8"))
    assert values == {
        "gps_1.latitude": (42.3519, "°"),
        "gps_1.longitude": (-87.9094, "°"),
        "gps_1.altitude": (10.0, "m"),
    }


@pytest.mark.parametrize(
    ("frame", "where"),
    [("0367", "needs 2 bytes"), ("03FF0102", "unknown type 255 at byte 1"), ("03", "byte 0")],
)
def test_malformed_frames_name_the_offset(frame, where):
    with pytest.raises(DecodeError, match=where):
        decode_lpp(bytes.fromhex(frame))


def test_detector_accepts_real_lpp():
    assert looks_like_lpp(base64.b64decode("A2cBEAVnAP8="))
    assert looks_like_lpp(base64.b64decode("AHMnvwBnAN4="))


@pytest.mark.parametrize(
    "payload",
    [
        base64.b64decode("VGVtcGVyYXR1cmUgPSAwLjA="),  # TTN docs: "Temperature = 0.0"
        base64.b64decode("AQoBCgEKAQo="),  # TTN storage docs example
        bytes.fromhex("0168FF"),  # humidity 127.5 %: implausible
        bytes.fromhex("016707D0"),  # 200 °C: implausible
        bytes.fromhex("01670110016701FF"),  # the same channel and type twice
        bytes.fromhex("0C74014F"),  # extended type: parses, but not without the registry
        bytes.fromhex("00"),
    ],
)
def test_detector_rejects_non_lpp(payload):
    assert not looks_like_lpp(payload)


def test_random_bytes_are_rarely_taken_for_lpp():
    import random

    rng = random.Random(1)
    hits = sum(looks_like_lpp(rng.randbytes(rng.randint(4, 24))) for _ in range(20000))
    assert hits < 20  # < 0.1 %
