"""Population expansion: the scenes a scene file holds, one per wearer.

A scene file holds one scene, or, when its target is a built-in anatomy with a
``population:`` (size, seed, ages), one per member of that seeded population; any one-scene
file on a built-in anatomy can also be put on ``people`` seeded adults. Member ``i`` is
named ``<name>-p<i>`` (two digits) and its ``target.variant`` is its body shape, so its
``scene.resolved.yaml`` renders that member alone. A population may also sample skin types
(``skin_types: [I, VI]``, or ``{II: 3, V: 1}`` for weights), drawn with its seed: each
member's ``tissue.skin_type`` is its own.

:func:`list_members` lists a file's scenes without loading any mesh; :func:`load_member` loads
one; :func:`load_scenes` loads them all. Every command expands populations through these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin._data import scene_path
from twin._validation import (
    MAX_POPULATION,
    as_count,
    as_mapping,
    as_positive,
    as_string,
    check_keys,
)
from twin.errors import InputError
from twin.geometry.variants import Variant, population
from twin.scene.load import read_scene_file, scene_from_dict
from twin.scene.model import Scene
from twin.scene.schema import POPULATION_KEYS
from twin.tissue.optics import SKIN_TYPES, as_skin_type

#: Spawn key of the skin-type draw's random stream, apart from the body shapes' stream of the
#: same seed.
_SKIN_STREAM = 1


@dataclass(frozen=True)
class Member:
    """One scene of a scene file, known before anything is loaded.

    Attributes
    ----------
    path : Path
        The scene file.
    scene_name : str
        The file's ``name`` (default: the file's stem).
    variant : Variant or None
        The body shape put on the file's target in place of its own (``None``: the target
        as written).
    index : int or None
        The member's place in the population (``None``: the file's one scene).
    skin_type : str or None
        The Fitzpatrick type (``"I"`` .. ``"VI"``) put in the file's ``tissue:`` section in
        place of its skin (``None``: the skin as written).
    """

    path: Path
    scene_name: str
    variant: Variant | None = None
    index: int | None = None
    skin_type: str | None = None

    @property
    def name(self) -> str:
        """The member scene's name: ``<scene_name>-p<index>``, or the file's name."""
        return self.scene_name if self.index is None else f"{self.scene_name}-p{self.index:02d}"

    @property
    def label(self) -> str:
        """Who the member is: its body shape and skin type (``female 34 y, skin V``)."""
        parts = [] if self.variant is None else [self.variant.label]
        if self.skin_type is not None:
            parts.append(f"skin {self.skin_type}")
        return ", ".join(parts)


def list_members(
    path: str | Path, *, people: int | None = None, seed: int = 0
) -> tuple[Member, ...]:
    """List the scenes of a scene file without loading any mesh.

    Parameters
    ----------
    path : str or Path
        The scene file.
    people : int, optional
        Put the file's one scene, whose target must be a built-in anatomy, on this many
        members of a seeded population (:func:`twin.geometry.variants.population`, ages
        18-70) instead.
    seed : int
        Seed of that population.

    Returns
    -------
    tuple of Member
        One for a one-scene file; one per member of the file's ``target.population`` (each
        with its skin type where the population samples them), or of ``people``.

    Raises
    ------
    InputError
        On an unreadable file, a bad ``name`` or ``population`` (skin types without a
        ``tissue:`` section among them), or ``people`` on a file that is not one scene on a
        built-in anatomy.
    """
    path = scene_path(path)
    return _members(read_scene_file(path), path, people=people, seed=seed)


def load_member(member: Member) -> Scene:
    """Read, validate and load one scene of a scene file (see :func:`list_members`).

    Raises
    ------
    InputError
        Naming the member, when it is one of a population.
    """
    return _load(read_scene_file(member.path), member)


def load_scenes(
    path: str | Path, *, people: int | None = None, seed: int = 0
) -> tuple[Scene, ...]:
    """Read, validate and load every scene of a scene file: one, or one per member.

    Parameters
    ----------
    path : str or Path
        The scene file.
    people : int, optional
        Members of a seeded population to put the file's one scene on (ages 18-70); see
        :func:`list_members`.
    seed : int
        Seed of that population.

    Returns
    -------
    tuple of Scene
        In the order of :func:`list_members`.

    Raises
    ------
    InputError
    """
    path = scene_path(path)
    data = read_scene_file(path)
    return tuple(_load(data, m) for m in _members(data, path, people=people, seed=seed))


def _members(
    data: dict[str, Any], path: Path, *, people: int | None, seed: int
) -> tuple[Member, ...]:
    target = data.get("target")
    skins: tuple[str | None, ...] | None = None
    if people is not None:
        mesh = target.get("mesh") if isinstance(target, dict) else None
        on_builtin = isinstance(mesh, str) and mesh.startswith("builtin:")
        if not (isinstance(target, dict) and on_builtin) or "population" in target:
            msg = f"{path}: people: needs a one-scene file on a built-in anatomy, got {mesh!r}"
            raise InputError(msg)
        variants = population(people, seed=seed)
    elif isinstance(target, dict) and "population" in target:
        where = f"{path}: target.population"
        if "variant" in target:
            msg = f"{where}: give either a variant or a population, not both"
            raise InputError(msg)
        variants, skins = _population(target["population"], where=where)
        if skins is not None and data.get("tissue") is None:
            msg = (
                f"{where}.skin_types: expected a scene with a tissue: section (each member's "
                "skin type is set there), found none"
            )
            raise InputError(msg)
    else:
        variants = None
    name = as_string(data.get("name", path.stem), name=f"{path}: name")
    if variants is None:
        return (Member(path, name),)
    skins = skins or (None,) * len(variants)
    return tuple(
        Member(path, name, v, i, skin)
        for i, (v, skin) in enumerate(zip(variants, skins, strict=True))
    )


def _population(spec: Any, *, where: str) -> tuple[tuple[Variant, ...], tuple[str, ...] | None]:
    """Return the members' body shapes and, where ``skin_types`` is given, skin types."""
    spec = as_mapping(spec, name=where)
    check_keys(spec, POPULATION_KEYS, name=where)
    if "size" not in spec:
        msg = f"{where}: missing required key 'size' (the number of people)"
        raise InputError(msg)
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        msg = f"{where}.seed: expected a whole number >= 0, got {seed!r}"
        raise InputError(msg)
    ages = spec.get("age_years", [18, 70])
    ok = (
        isinstance(ages, list)
        and len(ages) == 2
        and all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in ages)
    )
    if not ok or ages[0] > ages[1]:
        msg = f"{where}.age_years: expected [youngest, oldest], got {ages!r}"
        raise InputError(msg)
    size = as_count(spec["size"], name=f"{where}.size", most=MAX_POPULATION)
    variants = population(size, seed=seed, age_years=(ages[0], ages[1]), name=where)
    skins = None
    if "skin_types" in spec:
        skins = _skin_draw(spec["skin_types"], size, seed=seed, name=f"{where}.skin_types")
    return variants, skins


def _skin_draw(spec: Any, size: int, *, seed: int, name: str) -> tuple[str, ...]:
    """Draw ``size`` skin types from a list (uniformly) or a mapping of type to weight.

    The draw is seeded with the population's seed, on a stream of its own
    (:data:`_SKIN_STREAM`), so adding skin types leaves the body shapes as they were.
    """
    weights: dict[str, float] = {}
    if isinstance(spec, list) and spec:
        for i, value in enumerate(spec):
            skin = as_skin_type(value, name=f"{name}[{i}]")
            weights[skin] = weights.get(skin, 0.0) + 1.0
    elif isinstance(spec, dict) and spec:
        for key, value in spec.items():
            skin = as_skin_type(key, name=name)
            weight = as_positive(value, name=f"{name}.{key}", allow_zero=True)
            weights[skin] = weights.get(skin, 0.0) + weight
        if not sum(weights.values()) > 0:
            msg = f"{name}: expected at least one weight > 0, got {spec!r}"
            raise InputError(msg)
    else:
        msg = (
            f"{name}: expected a list of skin types ({', '.join(SKIN_TYPES)}) or a mapping of "
            f"skin type to weight, got {spec!r}"
        )
        raise InputError(msg)
    skins = list(weights)
    p = np.array(list(weights.values())) / sum(weights.values())
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_SKIN_STREAM,)))
    return tuple(skins[i] for i in rng.choice(len(skins), size=size, p=p))


def _load(data: dict[str, Any], member: Member) -> Scene:
    """``member`` of the scene file whose data is ``data``.

    A member's body shape becomes its ``target.variant``, its skin type its
    ``tissue.skin_type`` (in place of the section's skin or layers), so that its
    ``scene.resolved.yaml`` renders it alone.
    """
    base = member.path.resolve().parent
    if member.variant is None and member.skin_type is None:
        return scene_from_dict(data, base=base, path=member.path)
    one = dict(data, name=member.name)
    if member.variant is not None:
        target = as_mapping(data.get("target"), name=f"{member.path}: target")
        one["target"] = {
            key: value for key, value in target.items() if key not in ("population", "variant")
        }
        one["target"]["variant"] = member.variant.to_dict()
    if member.skin_type is not None:
        tissue = as_mapping(data.get("tissue"), name=f"{member.path}: tissue")
        one["tissue"] = {key: value for key, value in tissue.items() if key != "layers"}
        one["tissue"]["skin_type"] = member.skin_type
    try:
        return scene_from_dict(one, base=base, path=member.path)
    except InputError as exc:  # say which wearer: the others may be fine
        who = member.label
        if member.index is not None:
            who = f"population member {member.name}: {who}"
        msg = f"{exc} ({who})"
        raise InputError(msg) from None
