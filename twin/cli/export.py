"""``twin export``: a written render folder as files for other tools (VTU, grid CSV / NPZ)."""

from __future__ import annotations

import argparse

from twin.errors import InputError
from twin.views.export import export_result

#: How messages name ``export_result``'s arguments: by the options that give them.
OPTION_NAMES = {
    "formats": "--format",
    "maps": "--map",
    "pixel_mm": "--pixel-mm",
    "units": "--irradiance-unit",
    "out_dir": "--out",
}


def split_list(text: str, *, name: str) -> list[str]:
    """Split a comma-separated option (``"vtu,grid-csv"``) into its items.

    Raises
    ------
    InputError
        Naming the option if it lists nothing.
    """
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        msg = f"{name}: expected a comma-separated list, got {text!r}"
        raise InputError(msg)
    return items


def _cmd_export(args: argparse.Namespace) -> int:
    paths = export_result(
        args.result,
        args.out,
        formats=split_list(args.format, name="--format"),
        maps=split_list(args.map, name="--map"),
        pixel_mm=args.pixel_mm,
        units=args.irradiance_unit,
        names=OPTION_NAMES,
    )
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
    return 0
