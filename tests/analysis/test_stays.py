"""detect_stays: the stage's contract, the default method's behaviour, and the trackintel method's."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hereabouts.analysis import StayMethod, detect_stays
from hereabouts.analysis.stays import stay_confidence
from hereabouts.kernels import reference as ref
from hereabouts.model import InputError, SchemaError, validate
from hereabouts.model.schemas import STAY

T0 = 1_700_000_000
M_LAT = 1 / 111_195.0  # degrees of latitude per metre
HOME = (47.0, 8.0)
WORK = (47.02, 8.0)  # 2.2 km north


def table(
    seconds: Sequence[float],
    lat: Sequence[float],
    lon: Sequence[float] | float = HOME[1],
    *,
    accuracy: Sequence[float | None] | None = None,
    device: Sequence[str] | str = "phone",
    entity: Sequence[str] | None = None,
) -> pa.Table:
    n = len(seconds)
    cols: dict[str, pa.Array] = {
        "device": pa.array([device] * n if isinstance(device, str) else list(device), pa.string()),
        "t": pa.array([round((T0 + s) * 1_000_000) for s in seconds], pa.int64()).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "lat": pa.array(list(lat), pa.float64()),
        "lon": pa.array([lon] * n if isinstance(lon, float) else list(lon), pa.float64()),
    }
    if accuracy is not None:
        cols["accuracy_m"] = pa.array(list(accuracy), pa.float64())
    if entity is not None:
        cols["entity"] = pa.array(list(entity), pa.string())
    return pa.table(cols)


def dwell(start_s: float, minutes: int, place: tuple[float, float], every_s: float = 60) -> list[tuple]:
    """One fix every ``every_s`` at ``place`` with a few metres of deterministic jitter."""
    n = int(minutes * 60 / every_s)
    return [(start_s + i * every_s, place[0] + ((i * 7) % 5 - 2) * 3 * M_LAT, place[1]) for i in range(n)]


def build(*parts: list[tuple]) -> pa.Table:
    rows = [r for part in parts for r in part]
    return table([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def seconds(col: pa.ChunkedArray) -> list[float]:
    return [v / 1e6 - T0 for v in col.cast(pa.int64()).to_pylist()]


# --------------------------------------------------------------------------------------------------
# the stage contract


def test_output_is_a_valid_stay_table_and_input_is_untouched() -> None:
    fixes = build(dwell(0, 30, HOME), dwell(1860, 30, WORK), dwell(3720, 10, HOME))
    before = fixes.to_pydict()
    for method in StayMethod:
        stays = detect_stays(fixes, method=method)
        assert stays.schema.equals(STAY, check_metadata=False)
        validate(stays, "stay")
        assert stays.num_rows == 2
        assert stays.column("entity").to_pylist() == ["phone", "phone"]
        conf = stays.column("confidence").to_numpy()
        assert np.all((conf > 0) & (conf <= 1))
        assert stays.column("method").to_pylist()[0].startswith(f"{method.value}(radius_m=100, ")
    assert fixes.to_pydict() == before


def test_empty_input_gives_empty_stay_table() -> None:
    stays = detect_stays(table([], []))
    assert stays.num_rows == 0
    assert stays.schema.equals(STAY, check_metadata=False)


def test_unknown_method_lists_the_valid_ones() -> None:
    with pytest.raises(
        InputError, match=r"unknown stay method 'li'; expected one of 'default', 'trackintel'"
    ):
        detect_stays(table([0], [0.0]), method="li")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"radius_m": 0}, "radius_m must be a finite number greater than 0"),
        ({"radius_m": math.nan}, "radius_m must be"),
        ({"min_duration_s": -1}, "min_duration_s must be a finite number of at least 0"),
        ({"max_gap_s": math.inf}, "max_gap_s must be"),
        ({"max_outliers": -1}, "max_outliers must be a whole number of at least 0"),
        ({"max_outliers": 1.5}, "max_outliers must be a whole number"),
        ({"min_fixes": 0}, "min_fixes must be a whole number of at least 1"),
        ({"exclude_duplicates": False}, "the 'default' stay method does not use exclude_duplicates"),
        (
            {"method": "trackintel", "max_outliers": 2},
            "the 'trackintel' stay method does not use max_outliers",
        ),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        detect_stays(table([0], [0.0]), **kwargs)


def test_bad_tables_are_refused() -> None:
    good = table([0, 60], [47.0, 47.0])
    with pytest.raises(SchemaError, match="lacks column lat"):
        detect_stays(good.drop_columns(["lat"]))
    with pytest.raises(SchemaError, match="lacks column device"):
        detect_stays(good.drop_columns(["device"]))
    with pytest.raises(SchemaError, match=r"column 't' .* expected timestamp"):
        detect_stays(good.set_column(1, "t", pa.array([0, 60])))
    with pytest.raises(SchemaError, match="'lon' of the fix table has 1 null values"):
        detect_stays(good.set_column(3, "lon", pa.array([8.0, None])))
    with pytest.raises(SchemaError, match="'lat' of the fix table holds NaN"):
        detect_stays(good.set_column(2, "lat", pa.array([47.0, math.nan])))
    with pytest.raises(InputError, match="needs a pyarrow Table"):
        detect_stays(good.to_pandas())  # type: ignore[arg-type]


def test_entities_are_separate_and_entity_wins_over_device() -> None:
    a = dwell(0, 30, HOME) + dwell(1860, 5, WORK)
    b = dwell(100, 40, WORK) + dwell(2500, 5, HOME)
    rows = a + b
    fixes = table(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        device=["x"] * len(rows),
        entity=["zoe"] * len(a) + ["adam"] * len(b),
    )
    stays = detect_stays(fixes)
    assert stays.column("entity").to_pylist() == ["adam", "zoe"]
    assert stays.column("lat").to_numpy() == pytest.approx([WORK[0], HOME[0]], abs=1e-4)


def test_unsorted_input_gives_the_stays_of_the_sorted_input_with_sorted_evidence() -> None:
    fixes = build(dwell(0, 30, HOME), dwell(1860, 30, WORK), dwell(3720, 10, HOME))
    shuffled = fixes.take(pa.array(np.random.default_rng(1).permutation(fixes.num_rows)))
    for method in StayMethod:
        assert detect_stays(shuffled, method=method).equals(detect_stays(fixes, method=method))
    stays = detect_stays(fixes)
    # evidence: rows of the first and last supporting fix in the input sorted by (entity, t)
    assert stays.column("evidence_first").to_pylist() == [0, 30]
    assert stays.column("evidence_last").to_pylist() == [29, 59]


def test_multi_chunk_and_integer_columns_are_accepted() -> None:
    fixes = build(dwell(0, 30, HOME), dwell(1860, 10, WORK))
    chunked = pa.concat_tables([fixes.slice(0, 7), fixes.slice(7, 20), fixes.slice(27)])
    assert chunked.column("t").num_chunks == 3
    assert detect_stays(chunked).equals(detect_stays(fixes))
    ints = table([0, 60, 120, 180, 240, 300, 360], [0, 0, 0, 0, 0, 0, 1], lon=[0] * 7)
    assert detect_stays(ints).num_rows == 1


# --------------------------------------------------------------------------------------------------
# the default method


def test_one_outlier_does_not_split_a_visit_but_trackintel_splits() -> None:
    fixes = dwell(0, 20, HOME)
    fixes[10] = (fixes[10][0], HOME[0] + 300 * M_LAT, HOME[1])  # one multipath jump of 300 m
    t = build(fixes, dwell(1500, 10, WORK))
    ours = detect_stays(t)
    assert ours.num_rows == 1
    assert ours.column("n_fixes").to_pylist() == [19]  # the jump is not evidence
    assert seconds(ours.column("start")) == [0]
    assert seconds(ours.column("end")) == [1140]
    theirs = detect_stays(t, method="trackintel")
    assert theirs.num_rows == 2  # 0..600 and 660..1500: the jump ends a window


@pytest.mark.parametrize(("run", "k", "expected"), [(3, 3, 1), (4, 3, 2), (1, 0, 2)])
def test_a_run_of_outliers_up_to_max_outliers_is_tolerated(run: int, k: int, expected: int) -> None:
    fixes = dwell(0, 30, HOME)
    for i in range(12, 12 + run):
        fixes[i] = (fixes[i][0], HOME[0] + 400 * M_LAT, HOME[1])
    stays = detect_stays(build(fixes, dwell(1860, 10, WORK)), max_outliers=k)
    assert stays.num_rows == expected


def test_an_excursion_as_long_as_a_stay_is_not_an_outlier_run() -> None:
    # 3 fixes elsewhere spanning 10 minutes: longer than min_duration_s, so the visit is split
    fixes = (
        dwell(0, 20, HOME) + [(1200 + 300 * i, WORK[0], WORK[1]) for i in range(3)] + dwell(2100, 20, HOME)
    )
    assert detect_stays(build(fixes, dwell(3400, 10, WORK))).num_rows == 3
    # when stays must last 15 minutes, the 10-minute excursion cannot be one: it is an outlier run
    merged = detect_stays(build(fixes, dwell(3400, 10, WORK)), min_duration_s=900)
    assert merged.num_rows == 1
    assert merged.column("n_fixes").to_pylist() == [40]


def test_accuracy_disc_overlapping_the_stay_counts() -> None:
    n = 20
    lat = [HOME[0]] * n
    lat[5] = lat[12] = HOME[0] + 150 * M_LAT  # 150 m off
    secs = [60.0 * i for i in range(n)] + [1300.0, 1360.0]
    lat += [WORK[0]] * 2
    vague = table(secs, lat, accuracy=[5.0] * n + [5.0, 5.0])
    acc = [5.0] * (n + 2)
    acc[5] = acc[12] = 80.0  # 150 - 80 < 100: the discs overlap
    precise_off = detect_stays(vague, max_outliers=0)
    overlapping = detect_stays(table(secs, lat, accuracy=acc), max_outliers=0)
    assert precise_off.num_rows == 2  # a precise fix 150 m away breaks the stay when no outlier is allowed
    assert overlapping.num_rows == 1
    assert overlapping.column("n_fixes").to_pylist() == [20]


def test_fixes_less_accurate_than_max_accuracy_are_ignored() -> None:
    n = 20
    lat = [HOME[0]] * n + [WORK[0]]
    acc: list[float | None] = [10.0] * n + [10.0]
    for i in (4, 5, 6, 7, 8):
        lat[i] = WORK[0]  # a cell fix far away, but with 3 km accuracy
        acc[i] = 3000.0
    acc[9] = None  # unknown accuracy counts as precise
    stays = detect_stays(table([60.0 * i for i in range(n + 1)], lat, accuracy=acc), max_outliers=0)
    assert stays.num_rows == 1
    assert stays.column("n_fixes").to_pylist() == [15]
    counted = detect_stays(
        table([60.0 * i for i in range(n + 1)], lat, accuracy=acc), max_outliers=0, max_accuracy_m=5000
    )
    assert counted.column("n_fixes").to_pylist() == [n]  # now they count: their discs overlap home


def test_gap_at_the_same_place_is_bridged_up_to_max_gap_s() -> None:
    night = build(
        dwell(0, 30, HOME), dwell(1800 + 6 * 3600, 30, HOME), dwell(1800 + 6 * 3600 + 1860, 10, WORK)
    )
    stays = detect_stays(night, max_gap_s=7 * 3600)
    assert stays.num_rows == 1
    assert seconds(stays.column("start")) == [0]
    assert seconds(stays.column("end")) == [1740 + 1800 + 6 * 3600]
    bridged_conf = stays.column("confidence")[0].as_py()
    split = detect_stays(night, max_gap_s=5 * 3600)
    assert split.num_rows == 2  # the gap is too long to bridge
    assert bridged_conf < split.column("confidence")[1].as_py()  # a bridged gap lowers confidence


def test_gap_between_two_places_ends_the_stay() -> None:
    fixes = build(dwell(0, 30, HOME), dwell(1800 + 3600, 30, WORK), dwell(1800 + 3600 + 1860, 10, HOME))
    stays = detect_stays(fixes)
    assert stays.num_rows == 2
    assert seconds(stays.column("end")) == [1740, 1740 + 1800 + 3600]


def test_include_last_keeps_the_open_stay() -> None:
    fixes = build(dwell(0, 30, HOME), dwell(1860, 30, WORK))
    assert detect_stays(fixes).num_rows == 1
    stays = detect_stays(fixes, include_last=True)
    assert stays.num_rows == 2
    assert stays.column("lat").to_numpy() == pytest.approx([HOME[0], WORK[0]], abs=1e-4)


def test_arrival_and_departure_fixes_are_trimmed() -> None:
    approach = [(-120.0, HOME[0] - 90 * M_LAT, HOME[1]), (-60.0, HOME[0] - 60 * M_LAT, HOME[1])]
    leave = [(1800.0, HOME[0] + 90 * M_LAT, HOME[1])]
    fixes = build(approach, dwell(0, 30, HOME), leave, dwell(2400, 10, WORK))
    stays = detect_stays(fixes, radius_m=50)
    assert seconds(stays.column("start")) == [0]
    assert seconds(stays.column("end")) == [1740]
    assert stays.column("evidence_first").to_pylist() == [2]


def test_stay_across_the_antimeridian_is_one_stay() -> None:
    lon = [179.9999 if i % 2 else -179.9999 for i in range(30)] + [170.0] * 3
    fixes = table([60.0 * i for i in range(33)], [-17.0] * 33, lon)
    stays = detect_stays(fixes)
    assert stays.num_rows == 1
    assert abs(stays.column("lon")[0].as_py()) > 179.99
    assert stays.column("radius_m")[0].as_py() < 20


def test_radius_and_confidence_reflect_spread_and_support() -> None:
    tight = build(dwell(0, 60, HOME), dwell(3660, 10, WORK))
    rng = np.random.default_rng(2)
    north, east = rng.normal(0, 30, 60), rng.normal(0, 30, 60)  # 30 m of noise each way
    spread = [(60.0 * i, HOME[0] + north[i] * M_LAT, HOME[1] + east[i] * M_LAT / 0.682) for i in range(60)]
    loose = build(spread, dwell(3660, 10, WORK))
    a, b = detect_stays(tight), detect_stays(loose, radius_m=100)
    assert a.column("radius_m")[0].as_py() < 10
    assert 40 < b.column("radius_m")[0].as_py() < 100  # the 90th percentile of the distances
    assert b.column("n_fixes")[0].as_py() >= 55
    assert a.column("confidence")[0].as_py() > b.column("confidence")[0].as_py()
    short = detect_stays(build(dwell(0, 6, HOME), dwell(400, 10, WORK)))
    assert short.column("confidence")[0].as_py() < a.column("confidence")[0].as_py()


def test_confidence_heuristic_bounds() -> None:
    c = stay_confidence(
        np.array([2, 1000, 3]),
        np.array([300.0, 86_400.0, 3600.0]),
        np.array([0.0, 0.0, 3600.0]),
        np.array([0.0, 10.0, 500.0]),
        radius_param_m=100,
        min_duration_s=300,
    )
    assert np.all((c >= 0) & (c <= 1))
    assert c[1] > 0.99
    assert c[2] < c[0] < c[1]


# --------------------------------------------------------------------------------------------------
# the trackintel method, by hand


def test_trackintel_stay_ends_at_the_fix_that_left() -> None:
    fixes = build(dwell(0, 10, HOME), [(900.0, *WORK)], dwell(960, 10, WORK))
    stays = detect_stays(fixes, method="trackintel")
    assert seconds(stays.column("start")) == [0]
    assert seconds(stays.column("end")) == [900]  # not 540, the last fix at home
    assert stays.column("n_fixes").to_pylist() == [10]
    assert stays.column("evidence_last").to_pylist() == [9]
    last = detect_stays(fixes, method="trackintel", include_last=True)
    assert seconds(last.column("start")) == [0, 900]
    assert seconds(last.column("end")) == [900, 960 + 540]  # the last stay ends at the last fix


def test_trackintel_threshold_is_inclusive_for_distance_and_duration() -> None:
    d = ref.ti_haversine_m(8.0, 47.0, 8.0, 47.001)
    fixes = table([0, 60, 300, 360], [47.0, 47.0, 47.001, 47.001])
    assert detect_stays(fixes, method="trackintel", radius_m=d, min_duration_s=300).num_rows == 1
    assert detect_stays(fixes, method="trackintel", radius_m=d, min_duration_s=300.000001).num_rows == 0
    assert (
        detect_stays(fixes, method="trackintel", radius_m=math.nextafter(d, 1e9), min_duration_s=300).num_rows
        == 0
    )


def test_trackintel_gap_drops_the_open_window() -> None:
    fixes = build(dwell(0, 10, HOME), dwell(600 + 901, 10, HOME), [(2200.0, *WORK)])
    stays = detect_stays(fixes, method="trackintel")
    assert seconds(stays.column("start")) == [1501]  # the window before the gap is dropped
    bridged = detect_stays(fixes, method="trackintel", max_gap_s=961)  # the gap is 961 s
    assert seconds(bridged.column("start")) == [0]


def test_trackintel_duplicates_are_dropped_unless_asked() -> None:
    rows = dwell(0, 10, HOME)
    dup = rows[:3] + [rows[2]] * 3 + rows[3:] + [(600.0, *WORK)]
    fixes = build(dup)
    assert detect_stays(fixes, method="trackintel").column("n_fixes").to_pylist() == [10]
    assert detect_stays(fixes, method="trackintel", exclude_duplicates=False).column(
        "n_fixes"
    ).to_pylist() == [13]


# --------------------------------------------------------------------------------------------------
# against the reference on random input, through the Arrow layer (sorting, dedup, evidence)

row = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from([0, 30, 60, 60, 120, 300, 900, 1000]),
    st.sampled_from([0.0, 0.0, 2e-4, 9e-4, -9e-4, 3e-3]),
    st.sampled_from([None, 5.0, 90.0, 400.0]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(row, max_size=80),
    st.randoms(use_true_random=False),
    st.sampled_from(list(StayMethod)),
    st.sampled_from([None, 1, 2, 3]),
)
def test_detect_stays_equals_reference_on_shuffled_input(
    rows: list, rnd: object, method: StayMethod, threads: int | None
) -> None:
    """Serial and threaded (row ranges encoded and moved in threads, entities sorted in threads)."""
    t, lat, ent, acc = [], [], [], []
    clock = {"a": 0, "b": 0, "c": 0}
    for e, step, dlat, a in rows:
        clock[e] += step
        t.append(clock[e])
        lat.append(HOME[0] + dlat)
        ent.append(e)
        acc.append(a)
    order = list(range(len(rows)))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    fixes = table(
        [t[i] for i in order],
        [lat[i] for i in order],
        entity=[ent[i] for i in order],
        accuracy=[acc[i] for i in order],
    )
    stays = detect_stays(fixes, method=method, include_last=True, min_duration_s=120, threads=threads)
    # the reference, on the fixes stably sorted by (entity, t)
    ts = np.array([round((T0 + t[i]) * 1e6) for i in order], np.int64)
    codes = np.array([ent[i] for i in order])
    srt = np.lexsort((ts, codes))
    la = np.array([lat[i] for i in order])[srt]
    ac = np.array([np.nan if acc[i] is None else acc[i] for i in order])[srt]
    lo = np.full(len(srt), HOME[1])
    names, first = np.unique(codes[srt], return_index=True)
    bounds = np.append(first, len(srt)).astype(np.int64)
    if method is StayMethod.TRACKINTEL:
        ints, floats = ref.sliding_stays(ts[srt], la, lo, bounds, 100.0, 120_000_000, 900_000_000, True, True)
    else:
        ints, floats = ref.robust_stays(
            ts[srt], la, lo, ac, bounds, 100.0, 120_000_000, 6 * 3600 * 10**6, 3, 200.0, 2, True
        )
    assert stays.column("entity").to_pylist() == [str(names[e]) for e in ints[:, 0]]
    assert stays.column("evidence_first").to_pylist() == ints[:, 1].tolist()
    assert stays.column("evidence_last").to_pylist() == ints[:, 2].tolist()
    assert stays.column("start").cast(pa.int64()).to_pylist() == ints[:, 3].tolist()
    assert stays.column("end").cast(pa.int64()).to_pylist() == ints[:, 4].tolist()
    assert stays.column("n_fixes").to_pylist() == ints[:, 5].tolist()
    assert stays.column("lat").to_pylist() == floats[:, 0].tolist()


def test_threads_do_not_change_the_result() -> None:
    rng = np.random.default_rng(9)
    parts = []
    for e in range(7):
        rows = []
        t = 0.0
        for _ in range(int(rng.integers(0, 6))):
            place = (HOME[0] + float(rng.integers(0, 4)) * 0.01, HOME[1])
            rows += dwell(t, int(rng.integers(3, 40)), place, every_s=float(rng.choice([10, 60])))
            t = rows[-1][0] + 600 if rows else t
        parts.append((f"e{e}", rows))
    fixes = pa.concat_tables(
        [
            table([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], device=name)
            for name, rows in parts
            if rows
        ]
    )
    shuffled = fixes.take(pa.array(rng.permutation(fixes.num_rows)))
    for method in StayMethod:
        one = detect_stays(fixes, method=method, threads=1)
        assert one.num_rows > 5
        for threads in (1, 2, 3, 16):
            assert detect_stays(fixes, method=method, threads=threads).equals(one)
            assert detect_stays(shuffled, method=method, threads=threads).equals(one)
    with pytest.raises(InputError, match="threads must be a whole number of at least 1"):
        detect_stays(fixes, threads=0)


def test_times_hundreds_of_millennia_apart_are_refused() -> None:
    t = pa.array([2**62 + 2**61, -(2**62), 0], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    fixes = pa.table({"device": ["a"] * 3, "t": t, "lat": [0.0] * 3, "lon": [0.0] * 3})
    with pytest.raises(SchemaError, match="spans more than 146 000 years"):
        detect_stays(fixes)
