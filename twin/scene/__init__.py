"""Scene files: schema, loading, population expansion, checks.

- :mod:`twin.scene.schema`: the keys, their defaults, the ``dose:`` and ``engine:`` sections;
- :mod:`twin.scene.model`: :class:`Scene`, its provenance and :meth:`Scene.to_spec`;
- :mod:`twin.scene.target`: the target (built-in, variant, scan) and the occluders;
- :mod:`twin.scene.emitters`: the emitters (design or CSV) and the drive (``mode:``);
- :mod:`twin.scene.load`: reading a file, :func:`scene_from_dict`, :func:`load_scene`;
- :mod:`twin.scene.population`: a file's members, :func:`load_member`, :func:`load_scenes`;
- :mod:`twin.scene.checks`: the ``checks:`` section (design rules, baseline tolerances).
"""

from twin.scene.load import load_scene, read_scene_file, scene_from_dict
from twin.scene.model import Scene, SceneSource
from twin.scene.population import Member, list_members, load_member, load_scenes
from twin.scene.schema import EYE_REGION, EngineSettings

__all__ = [
    "EYE_REGION",
    "EngineSettings",
    "Member",
    "Scene",
    "SceneSource",
    "list_members",
    "load_member",
    "load_scene",
    "load_scenes",
    "read_scene_file",
    "scene_from_dict",
]
