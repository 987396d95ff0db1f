"""twin: a digital twin for LED photobiomodulation devices.

The whole job in a few lines::

    import twin

    result = twin.render("scenes/default.yaml")          # or a Scene from twin.load_scene
    result.dose.total_irradiance_mw_cm2                    # (k,) mW/cm^2 at result.samples
    result.metrics["roi"]["total"]["u0_min_over_mean"]
    result.write("out/default")                            # the files of `twin render`
"""

__version__ = "0.1.0"

from twin.dose import DoseMaps, DoseSettings, dose_maps
from twin.emitters import Emitters, read_emitter_csv
from twin.errors import BackendUnavailableError, InputError, TwinError
from twin.meshio import load_surface
from twin.profiles import Isotropic, Lambertian, Tabulated
from twin.rendering import RenderResult, render
from twin.scene import Scene, load_scene, load_scenes
from twin.surface import SamplePoints, Surface
from twin.transfer import TransferMatrix, transfer_matrix
from twin.variants import Variant, population

__all__ = [
    "BackendUnavailableError",
    "DoseMaps",
    "DoseSettings",
    "Emitters",
    "InputError",
    "Isotropic",
    "Lambertian",
    "RenderResult",
    "SamplePoints",
    "Scene",
    "Surface",
    "Tabulated",
    "TransferMatrix",
    "TwinError",
    "Variant",
    "__version__",
    "dose_maps",
    "load_scene",
    "load_scenes",
    "load_surface",
    "population",
    "read_emitter_csv",
    "render",
    "transfer_matrix",
]
