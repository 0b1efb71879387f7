"""Layout of the synthetic demo city: district cells, street grid, blocks, river and parks.

The city is laid out on a lattice of 400 m *cells* bounded by main roads (24 m wide). A cell
belongs to one district, chosen by where it lies relative to the centre (E 459,100 /
N 5,481,100, EPSG:25832):

* ``CENTRE``: perimeter blocks (3–4 × 3–4 blocks per cell, minor streets 12 m wide);
* ``INDUSTRY``: the BASF-like works in the north (1–2 × 1–2 large blocks per cell);
* ``SUBURB``: everything else; long narrow blocks with two rows of detached houses,
  running east–west or north–south.

A few centre blocks become ``TOWER`` blocks holding one high-rise. The Rhine runs along the
east side (:func:`bank_x`); named parks sit at fixed places and more parks are scattered
over the suburbs of a grown city. Everything here is array-based; the only Python loop runs
over cells (a few thousand at most).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

#: Centre of the city (E, N in EPSG:25832).
CENTRE = (459_100.0, 5_481_100.0)
#: Side of a district cell in metres.
CELL = 400.0
#: Main roads run north–south at x ≡ GRID_X0 and east–west at y ≡ GRID_Y0 (mod CELL).
GRID_X0 = 458_350.0
GRID_Y0 = 5_480_650.0
MAIN_WIDTH = 24.0
MINOR_WIDTH = 12.0
PROMENADE_WIDTH = 14.0
#: How far the default city (scale 1) reaches from the centre, in metres.
REACH_WEST, REACH_SOUTH, REACH_NORTH = 2_600.0, 3_100.0, 3_400.0
#: Buildings keep this distance from the west bank of the Rhine.
RIVER_MARGIN = 25.0
#: The industrial works: cells with centres in this band (and east of INDUSTRY_MIN_X).
INDUSTRY_Y = (5_482_650.0, 5_485_300.0)
INDUSTRY_MIN_X = 457_300.0
#: The centre district (perimeter blocks): cell centres inside this box.
CENTRE_BOX = (458_100.0, 5_480_400.0, 460_000.0, 5_482_500.0)
#: Bridges over the Rhine: (name, y of the main road they continue, width).
BRIDGES = (
    ("Konrad-Adenauer-Brücke", 5_480_650.0, 30.0),
    ("Kurt-Schumacher-Brücke", 5_481_850.0, 28.0),
)

CENTRE_D, SUBURB, INDUSTRY, TOWER = 0, 1, 2, 3
#: Number of high-rise blocks (besides the Rathaus landmark).
N_TOWERS = 6

#: Named parks at fixed places: (name, minx, miny, maxx, maxy). None holds a landmark.
NAMED_PARKS = (
    ("Friedenspark", 458_420.0, 5_479_940.0, 458_700.0, 5_480_250.0),
    ("Ebertpark", 457_700.0, 5_482_200.0, 458_150.0, 5_482_600.0),
    ("Parkinsel-Anlage", 459_440.0, 5_479_560.0, 459_740.0, 5_480_100.0),
    ("Hemshofpark", 459_340.0, 5_481_780.0, 459_560.0, 5_482_000.0),
    ("Goerdelerpark", 457_880.0, 5_480_880.0, 458_140.0, 5_481_120.0),
)

_NOUNS = (
    "Linden",
    "Ahorn",
    "Birken",
    "Eichen",
    "Kastanien",
    "Ulmen",
    "Buchen",
    "Erlen",
    "Weiden",
    "Tannen",
    "Rosen",
    "Tulpen",
    "Nelken",
    "Flieder",
    "Holunder",
    "Goethe",
    "Schiller",
    "Lessing",
    "Herder",
    "Heine",
    "Uhland",
    "Mörike",
    "Eichendorff",
    "Kant",
    "Leibniz",
    "Humboldt",
    "Gutenberg",
    "Kepler",
    "Dürer",
    "Mozart",
    "Beethoven",
    "Händel",
    "Schubert",
    "Brahms",
    "Haydn",
    "Kirchen",
    "Schul",
    "Mühlen",
    "Brunnen",
    "Garten",
    "Wiesen",
    "Feld",
    "Wald",
    "Berg",
    "Hafen",
    "Bahnhof",
    "Markt",
    "Post",
    "Rhein",
    "Pfalz",
    "Neckar",
    "Mosel",
    "Saar",
    "Nahe",
    "Lahn",
    "Hohenzollern",
    "Kaiser",
    "Königs",
    "Friedrich",
    "Luisen",
    "Sonnen",
    "Lerchen",
    "Amsel",
    "Finken",
    "Falken",
    "Drossel",
    "Meisen",
    "Schwalben",
)
_NOUN_SUFFIXES = ("straße", "weg", "gasse", "allee", "ring", "pfad")
_ADJECTIVES = (
    "Mannheimer",
    "Frankenthaler",
    "Speyerer",
    "Wormser",
    "Mainzer",
    "Dürkheimer",
    "Neustadter",
    "Oggersheimer",
    "Friesenheimer",
    "Mundenheimer",
    "Rheingönheimer",
    "Maudacher",
    "Ruchheimer",
    "Oppauer",
    "Edigheimer",
    "Limburgerhofer",
    "Schifferstadter",
    "Heidelberger",
    "Kaiserslauterer",
    "Pirmasenser",
    "Landauer",
    "Germersheimer",
)
_ADJ_SUFFIXES = (" Straße", " Weg", " Allee", " Ring")
_MAIN_SUFFIXES = ("straße", "Straße", "allee", "Allee", "ring", "Ring")
_QUALIFIERS = ("", "Obere ", "Untere ", "Alte ", "Neue ")


def street_name_pool(rng: np.random.Generator) -> list[str]:
    """Return German-looking street names, unique, in a seed-dependent order.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the order.

    Returns
    -------
    list of str
        About 3,000 distinct names ("Lindenstraße", "Alte Mannheimer Straße", ...).
    """
    base = [n + s for s in _NOUN_SUFFIXES for n in _NOUNS]
    base += [a + s for s in _ADJ_SUFFIXES for a in _ADJECTIVES]
    order = rng.permutation(len(base))
    names = [base[i] for i in order]
    # Qualified variants ("Neue Lindenstraße") only once the plain names are used up.
    return [q + n for q in _QUALIFIERS for n in names]


def bank_x(y: np.ndarray | float) -> np.ndarray:
    """Easting of the Rhine's west bank at northing ``y`` (a gentle curve near E 459,820)."""
    return 459_820.0 + 40.0 * np.sin((np.asarray(y, dtype=float) - 5_480_000.0) / 2_500.0)


def river_width(y: np.ndarray | float) -> np.ndarray:
    """Width of the Rhine in metres at northing ``y`` (about 350 m)."""
    return 350.0 + 20.0 * np.sin((np.asarray(y, dtype=float) - 5_481_000.0) / 1_700.0)


def river_polygon(ymin: float, ymax: float) -> shapely.Polygon:
    """Return the Rhine between two northings as one polygon (west bank to east bank).

    Parameters
    ----------
    ymin, ymax : float
        Northern and southern extent.

    Returns
    -------
    shapely.Polygon
    """
    y = np.linspace(ymin, ymax, max(8, int((ymax - ymin) / 50.0)))
    west = bank_x(y)
    east = west + river_width(y)
    ring = np.concatenate([np.c_[west, y], np.c_[east, y][::-1]])
    return shapely.Polygon(ring)


@dataclass
class Layout:
    """The street grid and blocks of one generated city.

    Block arrays (one entry per block): ``x0, y0, x1, y1`` the block between the street
    edges, ``district`` (``CENTRE_D``, ``SUBURB``, ``INDUSTRY``, ``TOWER``), ``orient``
    (0: house rows run east–west, 1: north–south), ``streets`` (n, 4) ids of the streets on
    the south, north, west and east side. Street arrays: ``seg`` (m, 4) centre line
    ``x0, y0, x1, y1``, ``width``, ``name`` (index into ``names``), ``main`` (bool).
    """

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    district: np.ndarray
    orient: np.ndarray
    streets: np.ndarray
    seg: np.ndarray
    width: np.ndarray
    name: np.ndarray
    main: np.ndarray
    names: list[str]
    extent: tuple[float, float, float, float]

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return len(self.x0)


def promenade_line(ymin: float, ymax: float) -> shapely.LineString:
    """Centre line of the riverside promenade (12 m west of the bank) between two northings."""
    y = np.linspace(ymin, ymax, max(8, int((ymax - ymin) / 50.0)))
    return shapely.LineString(np.c_[bank_x(y) - 12.0, y])


def extent_for(scale: float) -> tuple[float, float, float, float]:
    """Area covered by cells at a growth ``scale`` (1 = the default city)."""
    cx, cy = CENTRE
    pad = 1.05 * scale
    return (
        cx - REACH_WEST * pad,
        cy - REACH_SOUTH * pad,
        float(bank_x(cy)) + 200.0,
        cy + REACH_NORTH * pad,
    )


def district_of(cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """District code of cells with centres ``cx, cy``."""
    d = np.full(np.shape(cx), SUBURB, dtype=np.int8)
    x0, y0, x1, y1 = CENTRE_BOX
    d[(cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)] = CENTRE_D
    d[(cy >= INDUSTRY_Y[0]) & (cy <= INDUSTRY_Y[1]) & (cx >= INDUSTRY_MIN_X)] = INDUSTRY
    return d


def build_layout(scale: float, rng: np.random.Generator) -> Layout:
    """Lay out cells, blocks and streets over the area of growth ``scale``.

    Parameters
    ----------
    scale : float
        1 for the default city; larger values grow it west, south and north.
    rng : numpy.random.Generator
        Source of all random choices (block counts, orientation, high-rise blocks).

    Returns
    -------
    Layout
    """
    names = street_name_pool(rng)
    xmin, ymin, xmax, ymax = extent_for(scale)
    i0 = int(np.floor((xmin - GRID_X0) / CELL))
    i1 = int(np.ceil((xmax - GRID_X0) / CELL))
    j0 = int(np.floor((ymin - GRID_Y0) / CELL))
    j1 = int(np.ceil((ymax - GRID_Y0) / CELL))
    ymin, ymax = GRID_Y0 + j0 * CELL, GRID_Y0 + j1 * CELL
    # Main roads: north-south lines (id = index) then east-west lines.
    vx = GRID_X0 + CELL * np.arange(i0, i1 + 1)
    vx = vx[vx < bank_x(CENTRE[1]) - RIVER_MARGIN - 60.0]
    hy = GRID_Y0 + CELL * np.arange(j0, j1 + 1)
    n_v = len(vx)
    seg = [np.c_[vx, np.full(n_v, ymin), vx, np.full(n_v, ymax)]]
    seg.append(np.c_[np.full(len(hy), vx[0]), hy, bank_x(hy), hy])
    # The riverside promenade (its centre line is a curve: see promenade_line()).
    prom = n_v + len(hy)
    seg.append(np.array([[bank_x(ymin) - 12.0, ymin, bank_x(ymax) - 12.0, ymax]]))
    width = [np.full(n_v + len(hy), MAIN_WIDTH), np.array([PROMENADE_WIDTH])]
    main = [np.ones(n_v + len(hy) + 1, bool)]
    next_id = prom + 1

    # Cells west of the river, centre-out so that lower street ids sit in the centre.
    ci, cj = np.meshgrid(np.arange(n_v), np.arange(j1 - j0), indexing="ij")
    ci, cj = ci.ravel(), cj.ravel()
    cx0, cy0 = vx[ci], ymin + CELL * cj
    dist = np.hypot(cx0 + CELL / 2 - CENTRE[0], cy0 + CELL / 2 - CENTRE[1])
    order = np.argsort(dist, kind="stable")
    ci, cj, cx0, cy0 = ci[order], cj[order], cx0[order], cy0[order]
    district = district_of(cx0 + CELL / 2, cy0 + CELL / 2)
    n_cells = len(ci)
    # Blocks per cell by district.
    nx = np.where(district == CENTRE_D, rng.integers(3, 5, n_cells), 0)
    ny = np.where(district == CENTRE_D, rng.integers(3, 5, n_cells), 0)
    ind = district == INDUSTRY
    nx[ind], ny[ind] = rng.integers(1, 3, ind.sum()), rng.integers(1, 3, ind.sum())
    sub = district == SUBURB
    orient = np.where(sub, rng.integers(0, 2, n_cells), 0)
    rows = rng.integers(4, 7, n_cells)  # house blocks across the rows
    cols = rng.integers(1, 4, n_cells)  # blocks along the rows
    nx[sub] = np.where(orient[sub] == 0, cols[sub], rows[sub])
    ny[sub] = np.where(orient[sub] == 0, rows[sub], cols[sub])

    blocks: list[np.ndarray] = []
    inner = CELL - MAIN_WIDTH
    for k in range(n_cells):
        a_n, b_n = int(nx[k]), int(ny[k])
        bw = (inner - (a_n - 1) * MINOR_WIDTH) / a_n
        bh = (inner - (b_n - 1) * MINOR_WIDTH) / b_n
        x0 = cx0[k] + MAIN_WIDTH / 2 + np.arange(a_n) * (bw + MINOR_WIDTH)
        y0 = cy0[k] + MAIN_WIDTH / 2 + np.arange(b_n) * (bh + MINOR_WIDTH)
        # Street ids: west/east sides (columns), south/north sides (rows).
        v_ids = np.empty(a_n + 1, dtype=np.int64)
        v_ids[0], v_ids[-1] = ci[k], ci[k] + 1 if ci[k] + 1 < n_v else prom
        v_ids[1:-1] = next_id + np.arange(a_n - 1)
        if a_n > 1:
            xs = x0[1:] - MINOR_WIDTH / 2
            seg.append(np.c_[xs, np.full(a_n - 1, cy0[k]), xs, np.full(a_n - 1, cy0[k] + CELL)])
        next_id += a_n - 1
        h_ids = np.empty(b_n + 1, dtype=np.int64)
        h_ids[0], h_ids[-1] = n_v + cj[k], n_v + cj[k] + 1
        h_ids[1:-1] = next_id + np.arange(b_n - 1)
        if b_n > 1:
            ys = y0[1:] - MINOR_WIDTH / 2
            seg.append(np.c_[np.full(b_n - 1, cx0[k]), ys, np.full(b_n - 1, cx0[k] + CELL), ys])
        next_id += b_n - 1
        n_minor = a_n + b_n - 2
        width.append(np.full(n_minor, MINOR_WIDTH))
        main.append(np.zeros(n_minor, bool))
        a, b = np.meshgrid(np.arange(a_n), np.arange(b_n), indexing="ij")
        a, b = a.ravel(), b.ravel()
        n = len(a)
        blocks.append(
            np.c_[
                x0[a],
                y0[b],
                x0[a] + bw,
                y0[b] + bh,
                np.full(n, district[k]),
                np.full(n, orient[k]),
                h_ids[b],
                h_ids[b + 1],
                v_ids[a],
                v_ids[a + 1],
            ]
        )
    blk = np.concatenate(blocks)
    # Blocks reaching the river end at the promenade; slivers go.
    bank = np.minimum(bank_x(blk[:, 1]), bank_x(blk[:, 3])) - RIVER_MARGIN
    cut = blk[:, 2] > bank
    blk[cut, 2] = bank[cut]
    blk[cut, 9] = prom
    blk = blk[blk[:, 2] - blk[:, 0] >= 30.0]
    seg_all = np.concatenate(seg)
    dist_blk = blk[:, 4].astype(np.int8)
    # A few blocks near the centre hold a high-rise instead of a perimeter ring.
    mid_x, mid_y = (blk[:, 0] + blk[:, 2]) / 2, (blk[:, 1] + blk[:, 3]) / 2
    near = (dist_blk == CENTRE_D) & (np.hypot(mid_x - CENTRE[0], mid_y - CENTRE[1]) < 900.0)
    near = np.flatnonzero(near)
    towers = rng.choice(near, min(N_TOWERS, len(near)), replace=False)
    dist_blk[towers] = TOWER
    # Main roads get names that suit a long road ("...straße", "...allee", "...ring"),
    # minor streets the others ("...weg", "...gasse", "...pfad").
    n_streets = len(seg_all)
    is_main = np.concatenate(main)
    main_names = [n for n in names if n.endswith(_MAIN_SUFFIXES)]
    minor_names = [n for n in names if not n.endswith(_MAIN_SUFFIXES)]
    names = main_names + minor_names
    name = np.empty(n_streets, np.int64)
    name[is_main] = np.arange(is_main.sum()) % len(main_names)
    name[~is_main] = len(main_names) + np.arange((~is_main).sum()) % len(minor_names)
    names = [*names, "Rheinuferstraße"]
    name[prom] = len(names) - 1
    return Layout(
        x0=blk[:, 0],
        y0=blk[:, 1],
        x1=blk[:, 2],
        y1=blk[:, 3],
        district=dist_blk,
        orient=blk[:, 5].astype(np.int8),
        streets=blk[:, 6:10].astype(np.int64),
        seg=seg_all,
        width=np.concatenate(width),
        name=name,
        main=np.concatenate(main),
        names=names,
        extent=(float(vx[0]), ymin, float(xmax), ymax),
    )


def parks(
    scale: float, rng: np.random.Generator, avoid: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """Park polygons: the named parks plus, in a grown city, more parks in the suburbs.

    Parameters
    ----------
    scale : float
        Growth scale of the city.
    rng : numpy.random.Generator
        Source of the scattered parks' places and sizes.
    avoid : numpy.ndarray
        Polygons (landmark plots) no park may touch.

    Returns
    -------
    tuple of (list of str, numpy.ndarray of shapely.Polygon)
        Names and rounded-rectangle polygons.
    """
    names = [p[0] for p in NAMED_PARKS]
    boxes = [p[1:] for p in NAMED_PARKS]
    xmin, ymin, xmax, ymax = extent_for(scale)
    step = 1_600.0
    gx = np.arange(xmin + step / 2, xmax, step)
    gy = np.arange(ymin + step / 2, ymax, step)
    px, py = (a.ravel() for a in np.meshgrid(gx, gy))
    px = px + rng.uniform(-300, 300, px.size)
    py = py + rng.uniform(-300, 300, py.size)
    w = rng.uniform(120, 260, px.size)
    h = rng.uniform(120, 260, px.size)
    keep = (district_of(px, py) == SUBURB) & (px + w / 2 < bank_x(py) - 100.0)
    keep &= np.maximum(np.abs(px - CENTRE[0]), np.abs(py - CENTRE[1])) > 1_800.0
    extra = np.c_[px - w / 2, py - h / 2, px + w / 2, py + h / 2][keep]
    all_boxes = (
        np.concatenate([np.asarray(boxes, float), extra]) if len(extra) else np.asarray(boxes)
    )
    names += [f"Grünanlage {i + 1}" for i in range(len(extra))]
    r = 20.0
    polys = shapely.buffer(
        shapely.box(
            all_boxes[:, 0] + r, all_boxes[:, 1] + r, all_boxes[:, 2] - r, all_boxes[:, 3] - r
        ),
        r,
        quad_segs=4,
    )
    ok = np.ones(len(polys), bool)
    if len(avoid):
        tree = shapely.STRtree(avoid)
        hit = tree.query(polys, predicate="intersects")[0]
        ok[hit[hit >= len(NAMED_PARKS)]] = False
    return [n for n, k in zip(names, ok, strict=True) if k], polys[ok]
