"""twin: a digital twin for LED photobiomodulation devices.

The whole job in a few lines::

    import twin

    result = twin.render("scenes/default.yaml")          # or a Scene from twin.load_scene
    result.dose.total_irradiance_mw_cm2                    # (k,) mW/cm^2 at result.samples
    result.metrics["roi"]["total"]["u0_min_over_mean"]
    result.write("out/default")                            # the files of `twin render`

The public names load on first use (PEP 562), so ``import twin`` and ``twin --version`` stay
fast; docs/architecture.md says which package owns what.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from twin._version import __version__

#: Public name -> the module that defines it.
_PUBLIC = {
    "BackendUnavailableError": "twin.errors",
    "InputError": "twin.errors",
    "MissingDependencyError": "twin.errors",
    "TwinError": "twin.errors",
    "DoseMaps": "twin.dose.maps",
    "DoseSettings": "twin.dose.maps",
    "dose_maps": "twin.dose.maps",
    "Emitters": "twin.devices.emitters",
    "read_emitter_csv": "twin.devices.emitters",
    "Isotropic": "twin.devices.profiles",
    "Lambertian": "twin.devices.profiles",
    "Tabulated": "twin.devices.profiles",
    "load_surface": "twin.geometry.meshio",
    "SamplePoints": "twin.geometry.surface",
    "Surface": "twin.geometry.surface",
    "Variant": "twin.geometry.variants",
    "population": "twin.geometry.variants",
    "make_backend": "twin.engine.backends",
    "TransferMatrix": "twin.engine.transfer",
    "transfer_matrix": "twin.engine.transfer",
    "Scene": "twin.scene",
    "load_scene": "twin.scene",
    "load_scenes": "twin.scene",
    "RenderResult": "twin.pipeline.render",
    "render": "twin.pipeline.render",
}

__all__ = sorted([*_PUBLIC, "__version__"])

if TYPE_CHECKING:
    from twin.devices.emitters import Emitters, read_emitter_csv
    from twin.devices.profiles import Isotropic, Lambertian, Tabulated
    from twin.dose.maps import DoseMaps, DoseSettings, dose_maps
    from twin.engine.backends import make_backend
    from twin.engine.transfer import TransferMatrix, transfer_matrix
    from twin.errors import (
        BackendUnavailableError,
        InputError,
        MissingDependencyError,
        TwinError,
    )
    from twin.geometry.meshio import load_surface
    from twin.geometry.surface import SamplePoints, Surface
    from twin.geometry.variants import Variant, population
    from twin.pipeline.render import RenderResult, render
    from twin.scene import Scene, load_scene, load_scenes


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        msg = f"module 'twin' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
