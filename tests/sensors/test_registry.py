"""The device registry: TOML and CSV, lookups, generic routes, clear errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import RegistryError
from twin.sensors.registry import Device, GenericRoute, Quantity, Registry

TOML = """
[quantities.co2]
unit = "ppm"
label = "CO₂"
range = [400, 2000]
thresholds = [1000, 1400]

[[devices]]
id = "ls-co2-schule-mitte"
dev_eui = "70b3d57ed0000001"
name = "CO₂ Grundschule Mitte"
kind = "co2"
building = "demo/schule-mitte"
lat = 49.482936
lon = 8.429815
quantities = ["co2", "temperature"]
pattern = "school"

[[devices]]
id = "ls-pegel-rhein"
dev_eui = "70-B3-D5-7E-D0-00-00-02"
kind = "water-level"
codec = "lpp"
[devices.quantities.level]
unit = "cm"
range = [0, 1000]
[devices.quantities.co2]
thresholds = [900]

[[generic]]
topic = "stadt/+/{device}/data"
time = "ts"
[generic.fields]
temperature = "t"
[generic.units]
temperature = "°C"
"""


@pytest.fixture
def reg(tmp_path):
    path = tmp_path / "devices.toml"
    path.write_text(TOML, encoding="utf-8")
    return Registry.load(path)


def test_toml_devices(reg):
    assert len(reg) == 2
    school = reg.lookup(device_id="ls-co2-schule-mitte")
    assert school.dev_eui == "70B3D57ED0000001"
    assert (school.kind, school.building, school.lat, school.lon) == (
        "co2",
        "demo/schule-mitte",
        49.482936,
        8.429815,
    )
    assert school.quantities["co2"] == Quantity("ppm", "CO₂", (400.0, 2000.0), (1000.0, 1400.0))
    assert school.quantities["temperature"] == Quantity()
    assert school.extra == {"pattern": "school"}
    gauge = reg.lookup(dev_eui="70b3d57ed0000002")
    assert gauge.device_id == "ls-pegel-rhein" and gauge.codec == "lpp"
    assert gauge.quantities["level"] == Quantity("cm", "", (0.0, 1000.0), ())
    # Per-device settings override the [quantities] defaults key by key.
    assert gauge.quantities["co2"] == Quantity("ppm", "CO₂", (400.0, 2000.0), (900.0,))
    assert [d.device_id for d in reg] == ["ls-co2-schule-mitte", "ls-pegel-rhein"]


def test_lookup_prefers_dev_eui_and_handles_unknowns(reg):
    assert (
        reg.lookup(device_id="other", dev_eui="70B3D57ED0000001").device_id == "ls-co2-schule-mitte"
    )
    assert reg.lookup(device_id="nope") is None
    assert reg.lookup(dev_eui="not-an-eui") is None
    assert reg.lookup() is None


def test_generic_routes(reg):
    route, captures = reg.route_for("stadt/nord/wx-3/data")
    assert captures == {"device": "wx-3"}
    assert route.fields == {"temperature": "t"} and route.units == {"temperature": "°C"}
    assert reg.route_for("stadt/nord/wx-3/other") is None


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("a/#", "a/b/c", {}),
        ("a/#", "a", {}),
        ("#", "x/y", {}),
        ("a/+/c", "a/b/c", {}),
        ("a/+/c", "a/b/d", None),
        ("a/{device}", "a/dev.1", {"device": "dev.1"}),
        ("a.b/{device}", "aXb/d", None),  # dots are literal
    ],
)
def test_topic_patterns(pattern, topic, expected):
    assert GenericRoute(pattern, device="id").match(topic) == expected


CSV = """device_id,dev_eui,name,kind,lat,lon,building,quantity,unit,label,min,max,thresholds
ls-park-1,70B3D57ED0000010,Parkhaus,parking,49.48,8.43,demo/parkhaus-rathaus,occupancy,%,Belegung,0,100,80;95
ls-park-1,,,,,,,free,,frei,,,
ls-noise-1,,Lärm,noise,49.47,8.44,,laeq,dB(A),,30,90,
"""


def test_csv(tmp_path):
    path = tmp_path / "devices.csv"
    path.write_text(CSV, encoding="utf-8")
    reg = Registry.load(path)
    park = reg.lookup(device_id="ls-park-1")
    assert park.building == "demo/parkhaus-rathaus" and park.kind == "parking"
    assert park.quantities["occupancy"] == Quantity("%", "Belegung", (0.0, 100.0), (80.0, 95.0))
    assert park.quantities["free"] == Quantity("", "frei", None, ())
    assert reg.lookup(device_id="ls-noise-1").quantities["laeq"].range == (30.0, 90.0)


def test_folder_merges_files(tmp_path):
    (tmp_path / "a.toml").write_text(TOML, encoding="utf-8")
    (tmp_path / "b.csv").write_text(CSV, encoding="utf-8")
    reg = Registry.load(tmp_path)
    assert len(reg) == 4 and len(reg.routes) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[devices]]\nid = 'x'\ndev_eui = 'XYZ'\n",
            r"devices\[0\] \(x\)\.dev_eui: expected 16 hex digits, got 'XYZ'",
        ),
        ("[[devices]]\nid = 'x'\nlat = 95\nlon = 8\n", r"devices\[0\] \(x\)\.lat: expected -90…90"),
        ("[[devices]]\nid = 'x'\nlat = 49\n", r"lat and lon must be given together"),
        ("[[devices]]\nname = 'x'\n", r"devices\[0\]\.id: expected a non-empty device id"),
        (
            "[[devices]]\nid = 'x'\n[[devices]]\nid = 'x'\n",
            r"devices\[1\] \(x\): device id 'x' is listed twice",
        ),
        (
            "[[devices]]\nid = 'a'\ndev_eui = '0011223344556677'\n"
            "[[devices]]\nid = 'b'\ndev_eui = '00-11-22-33-44-55-66-77'\n",
            r"devices\[1\] \(b\): dev_eui 0011223344556677 is already used by 'a'",
        ),
        # another tool's spelling would leave the device without a position: refused
        ("[[devices]]\nid = 'x'\nlatitude = 49\n", r"\(x\)\.latitude: unknown key; expected 'lat'"),
        (
            "[[devices]]\nid = 'x'\ndevEui = 'AB'\n",
            r"\(x\)\.devEui: unknown key; expected 'dev_eui'",
        ),
        ("[[devices]]\nid = 'x'\ncodec = 'cbor'\n", r"\(x\)\.codec: expected one of"),
        (
            "[[devices]]\nid = 'x'\n[devices.quantities.co2]\nrange = [5, 1]\n",
            r"quantities\.co2\.range: expected lo < hi",
        ),
        (
            "[[devices]]\nid = 'x'\n[devices.quantities.co2]\nthresholds = [2, 1]\n",
            r"thresholds: expected ascending",
        ),
        (
            "[[devices]]\nid = 'x'\n[devices.quantities.co2]\nunits = 'ppm'\n",
            r"quantities\.co2\.units: unknown key",
        ),
        ("[[generic]]\ntopic = 'a/+'\n", r"generic\[0\]: give \{device\}"),
        (
            "[[generic]]\ntopic = 'a/#/b'\ndevice = 'id'\n",
            r"generic\[0\]\.topic: '#' must be the last level",
        ),
        ("devices = 3\n", r"devices: expected an array of tables"),
        ("[[devices]\n", r"not valid TOML"),
    ],
)
def test_invalid_toml_names_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError, match=message) as info:
        Registry.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name\nx\n", r"line 1: expected a device_id column"),
        ("device_id,colour\nx,red\n", r"line 1: unknown column 'colour'"),
        ("device_id,lat,lon\nx,abc,8\n", r"line 2, column lat: expected a number, got 'abc'"),
        ("device_id,lat\nx\n", r"line 2: expected 2 columns, got 1"),
        ("device_id,dev_eui\nx,123\n", r"line 2 \(x\)\.dev_eui: expected 16 hex digits"),
        (
            "device_id,dev_eui\na,0011223344556677\nb,0011223344556677\n",
            r"line 3 \(b\): dev_eui 0011223344556677 is already used by 'a'",
        ),
        (
            "device_id,name,quantity\nx,Schule,co2\nx,Rathaus,temperature\n",
            r"line 3, column name: 'Rathaus' contradicts line 2 \('Schule'\) for device 'x'",
        ),
        (
            "device_id,lat,quantity\nx,49.48,co2\nx,49.5,temperature\n",
            r"line 3, column lat: '49.5' contradicts line 2 \(49.48\)",
        ),
        (
            "device_id,quantity,unit\nx,co2,ppm\nx,co2,%\n",
            r"line 3, column quantity: 'co2' is listed twice for device 'x'",
        ),
    ],
)
def test_invalid_csv_names_file_line_and_column(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError, match=message):
        Registry.load(path)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(RegistryError, match="registry file not found"):
        Registry.load(tmp_path / "nope.toml")
    (tmp_path / "x.yaml").write_text("a: 1")
    with pytest.raises(RegistryError, match=r"expected \.toml or \.csv"):
        Registry.load(tmp_path / "x.yaml")


def test_duplicate_dev_eui_in_code():
    with pytest.raises(RegistryError, match="already used by 'a'"):
        Registry([Device("a", "0000000000000001"), Device("b", "0000000000000001")])


def test_devices_and_routes_are_hashable(reg):
    assert len(set(reg)) == 2
    assert len({*reg.routes}) == 1


# --- property: any TOML document loads or raises RegistryError ------------------------


def toml_value(value) -> str:
    """A tiny TOML emitter for inline values (strings, numbers, booleans, arrays, tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


SCALARS = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["70B3D57ED0000001", "demo/rathaus", "lpp", "XYZ", "a/{device}", "#"])
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["unit", "label", "range", "thresholds", "co2", "x", "t"]),
            children,
            max_size=3,
        )
    ),
    max_leaves=12,
)
DEVICE_KEYS = st.sampled_from(
    ["id", "device_id", "dev_eui", "name", "kind", "lat", "lon", "building", "codec",
     "quantities", "extra"]
)  # fmt: skip
ROUTE_KEYS = st.sampled_from(["topic", "device", "time", "values", "fields", "units", "bad"])
# Mostly valid entries with one or two keys replaced by anything: reaches every check.
VALID_DEVICE = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=8),
        "lat": st.floats(-90, 90),
        "lon": st.floats(-180, 180),
        "quantities": st.fixed_dictionaries(
            {"co2": st.fixed_dictionaries({"unit": st.just("ppm"), "range": st.just([0, 1])})}
        ),
    }
)
DEVICES = st.builds(
    lambda base, changes: {**base, **changes},
    VALID_DEVICE,
    st.dictionaries(DEVICE_KEYS, VALUES, max_size=2),
)
ROUTES = st.builds(
    lambda changes: {"topic": "a/{device}", **changes},
    st.dictionaries(ROUTE_KEYS, VALUES, max_size=2),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    devices=st.lists(DEVICES, max_size=4),
    routes=st.lists(ROUTES, max_size=2),
    quantities=st.dictionaries(st.sampled_from(["co2", "t"]), VALUES, max_size=2),
)
def test_any_registry_document_loads_or_raises_registry_error(
    tmp_path, devices, routes, quantities
):
    text = (
        f"quantities = {toml_value(quantities)}\n"
        f"devices = {toml_value(devices)}\n"
        f"generic = {toml_value(routes)}\n"
    )
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        reg = Registry.load(path)
    except RegistryError as err:
        assert str(path) in str(err) and "\n" not in str(err).strip()
        return
    for device in reg:
        assert isinstance(device.device_id, str) and device.device_id
        for q in device.quantities.values():
            assert q.range is None or q.range[0] < q.range[1]
