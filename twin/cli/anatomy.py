"""``twin anatomy``: list, export and population of the built-in anatomy."""

from __future__ import annotations

import argparse
import dataclasses

from twin.cli._common import count, positive
from twin.files import check_writable
from twin.geometry.variants import Variant, shape_parameter


def _cmd_anatomy_list(_: argparse.Namespace) -> int:
    from twin.geometry import anatomy

    for name in anatomy.ANATOMIES:
        surface = anatomy.builtin(name)
        size = " x ".join(f"{v / 10:.1f}" for v in surface.extent_mm)
        print(
            f"{name:7s} {size} cm, {surface.area_mm2 / 100:.0f} cm2, {len(surface.vertices_mm)} "
            f"points (edges <= {anatomy.DEFAULT_MAX_EDGE_MM[name]:g} mm)"
        )
        print(f"        regions: {', '.join(surface.regions)}")
    landmarks = ", ".join(sorted(anatomy.landmarks()))
    print(f"landmarks (emitters.frame of an emitter CSV): {landmarks}")
    return 0


def _variant_from_args(args: argparse.Namespace) -> Variant | None:
    """Return the variant the ``--sex``, ``--age-years`` ... options describe (None: base)."""
    given = {
        f.name: shape_parameter(f.name, value, name="--" + f.name.replace("_", "-"))
        for f in dataclasses.fields(Variant)
        if (value := getattr(args, f.name)) is not None
    }
    return Variant(**given) if given else None


def add_variant_options(parser: argparse.ArgumentParser) -> None:
    """Add the ``--sex``, ``--age-years`` ... options of a shape variant to ``parser``."""
    group = parser.add_argument_group(
        "shape variant", "any of these builds a variant instead of the base mesh"
    )
    group.add_argument("--sex", help="female, male or a number in [0, 1]")
    for f in dataclasses.fields(Variant):
        if f.name != "sex":
            group.add_argument(
                f"--{f.name.replace('_', '-')}", type=float, metavar="X", dest=f.name
            )


def _cmd_anatomy_export(args: argparse.Namespace) -> int:
    from twin.geometry import anatomy
    from twin.geometry.export import export_surface, mesh_format

    positive(args.max_edge_mm, name="--max-edge-mm")
    mesh_format(args.out.suffix, name=f"--out {args.out}")
    check_writable(args.out, name="--out")
    variant = _variant_from_args(args)
    surface = anatomy.builtin(args.name, max_edge_mm=args.max_edge_mm, variant=variant)
    export_surface(surface, args.out)
    size = " x ".join(f"{v / 10:.1f}" for v in surface.extent_mm)
    shape = "" if variant is None else f" ({variant.label})"
    print(
        f"wrote {args.out}: {args.name}{shape}, {len(surface.vertices_mm)} points, {size} cm, "
        "in mm"
    )
    return 0


def _cmd_anatomy_population(args: argparse.Namespace) -> int:
    from twin.geometry.export import export_population, mesh_format

    count(args.size, name="N (the number of people)")
    mesh_format(args.format, name="--format")
    count(args.seed, name="--seed", least=0)
    positive(args.max_edge_mm, name="--max-edge-mm")
    check_writable(args.out, name="--out", folder=True)
    paths = export_population(
        args.size,
        seed=args.seed,
        age_years=tuple(args.age_years),
        name=args.anatomy,
        max_edge_mm=args.max_edge_mm,
        suffix=args.format,
        out_dir=args.out,
    )
    print(f"wrote {len(paths) - 1} {args.anatomy} meshes and population.csv to {args.out}")
    return 0
