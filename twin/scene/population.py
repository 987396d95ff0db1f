"""Population expansion: the scenes a scene file holds, one per wearer.

A scene file holds one scene, or, when its target is a built-in anatomy with a
``population:`` (size, seed, ages), one per member of that seeded population; any one-scene
file on a built-in anatomy can also be put on ``people`` seeded adults. Member ``i`` is
named ``<name>-p<i>`` (two digits) and its ``target.variant`` is its body shape, so its
``scene.resolved.yaml`` renders that member alone.

:func:`list_members` lists a file's scenes without loading any mesh; :func:`load_member` loads
one; :func:`load_scenes` loads them all. Every command expands populations through these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin._validation import MAX_POPULATION, as_count, as_mapping, as_string, check_keys
from twin.errors import InputError
from twin.geometry.variants import Variant, population
from twin.scene.load import read_scene_file, scene_from_dict
from twin.scene.model import Scene
from twin.scene.schema import POPULATION_KEYS


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
    """

    path: Path
    scene_name: str
    variant: Variant | None = None
    index: int | None = None

    @property
    def name(self) -> str:
        """The member scene's name: ``<scene_name>-p<index>``, or the file's name."""
        return self.scene_name if self.index is None else f"{self.scene_name}-p{self.index:02d}"


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
        One for a one-scene file; one per member of the file's ``target.population``, or of
        ``people``.

    Raises
    ------
    InputError
        On an unreadable file, a bad ``name`` or ``population``, or ``people`` on a file that
        is not one scene on a built-in anatomy.
    """
    path = Path(path)
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
    path = Path(path)
    data = read_scene_file(path)
    return tuple(_load(data, m) for m in _members(data, path, people=people, seed=seed))


def _members(
    data: dict[str, Any], path: Path, *, people: int | None, seed: int
) -> tuple[Member, ...]:
    target = data.get("target")
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
        variants = _population(target["population"], where=where)
    else:
        variants = None
    name = as_string(data.get("name", path.stem), name=f"{path}: name")
    if variants is None:
        return (Member(path, name),)
    return tuple(Member(path, name, v, i) for i, v in enumerate(variants))


def _population(spec: Any, *, where: str) -> tuple[Variant, ...]:
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
    return population(size, seed=seed, age_years=(ages[0], ages[1]), name=where)


def _load(data: dict[str, Any], member: Member) -> Scene:
    """``member`` of the scene file whose data is ``data``."""
    base = member.path.resolve().parent
    if member.variant is None:
        return scene_from_dict(data, base=base, path=member.path)
    target = as_mapping(data.get("target"), name=f"{member.path}: target")
    one = {key: value for key, value in target.items() if key not in ("population", "variant")}
    one["variant"] = member.variant.to_dict()
    try:
        return scene_from_dict(
            {**data, "name": member.name, "target": one}, base=base, path=member.path
        )
    except InputError as exc:  # say which wearer: the others may be fine
        msg = f"{exc} (population member {member.name}: {member.variant.label})"
        raise InputError(msg) from None
