"""The public surface is pinned: a change to it is a deliberate, reviewed change."""

from __future__ import annotations

import subprocess
import sys

import hereabouts as hb


def test_all_is_pinned() -> None:
    assert sorted(hb.__all__) == sorted(
        [
            "Database",
            "FormatError",
            "HereaboutsError",
            "ImportResult",
            "InputError",
            "MissingDependencyError",
            "NotFoundError",
            "SchemaError",
            "SchemaVersionError",
            "StoreError",
            "UnknownFormatError",
            "UnsafeInputError",
            "__version__",
            "open",
            "show_versions",
        ]
    )
    for name in hb.__all__:
        assert hasattr(hb, name), name


def test_every_error_derives_from_the_root() -> None:
    for name in hb.__all__:
        obj = getattr(hb, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, hb.HereaboutsError), name


def test_error_message_carries_the_hint() -> None:
    exc = hb.NotFoundError("no entity named 'x'", hint="run `hereabouts entities`")
    assert str(exc) == "no entity named 'x' (hint: run `hereabouts entities`)"
    assert exc.message == "no entity named 'x'" and exc.hint == "run `hereabouts entities`"


def test_show_versions_and_cli_version_agree(capsys: object) -> None:
    hb.show_versions()
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert f"hereabouts: {hb.__version__}" in out and "duckdb:" in out
    p = subprocess.run([sys.executable, "-m", "hereabouts", "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == f"hereabouts {hb.__version__}"


def test_importing_the_package_stays_light() -> None:
    # numba and the analysis stages load only when used, so `hereabouts import` starts fast
    code = "import sys, hereabouts; print('numba' in sys.modules, 'pandas' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stdout.split() == ["False", "False"]
