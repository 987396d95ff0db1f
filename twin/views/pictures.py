"""The optional pictures of a render folder: plots, 3D pictures from named views, the HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from twin._extras import require
from twin.files import publish

if TYPE_CHECKING:
    from twin.pipeline.render import RenderResult

#: The modules each kind of picture needs (the ``viz`` extra); the HTML page needs none.
NEEDS: dict[str, tuple[str, ...]] = {
    "plots": ("matplotlib",),
    "png": ("pyvista",),
    "html": (),
}


def require_pictures(*, plots: bool, png: bool, html: bool, name: str = "{kind}") -> None:
    """Raise unless the modules the requested pictures need are installed.

    ``name`` names each kind in the message (``"--{kind}"`` for the command line).

    Raises
    ------
    MissingDependencyError
    """
    for kind, wanted in (("plots", plots), ("png", png), ("html", html)):
        if wanted:
            require(NEEDS[kind], feature=name.format(kind=kind))


def picture_names() -> list[str]:
    """Return the pictures twin may write in a render folder, relative to it (or patterns)."""
    from twin.views.plots import DETECTOR_PLOTS, PLOTS
    from twin.views.view3d import VIEWS

    return [
        *(f"plots/{p}.png" for p in PLOTS),
        f"plots/{DETECTOR_PLOTS}.png",
        *(f"pictures/{v}.png" for v in VIEWS),
        "scene.html",
    ]


def write_pictures(
    result: RenderResult, folder: Path, *, plots: bool, png: bool, html: bool
) -> list[Path]:
    """Write the pictures asked for into a render's folder; return their paths.

    ``plots/*.png`` (:mod:`twin.views.plots`), ``pictures/*.png`` from named views
    (:mod:`twin.views.view3d`) and ``scene.html`` (:mod:`twin.views.webpage`). The folder is
    published whole (:func:`twin.files.publish`): the pictures of :func:`picture_names` an
    earlier render left and this one does not make go, so the folder holds only what this
    render made beside the files that are not pictures.

    Parameters
    ----------
    result : RenderResult
    folder : Path
        The render's result folder.
    plots, png, html : bool
        Which pictures to write.
    """
    require_pictures(plots=plots, png=png, html=html)
    paths = []
    with publish(folder, name="folder", owned=picture_names()) as stage:
        if plots:
            from twin.views.plots import write_plots

            paths += write_plots(result, stage / "plots")
        if png or html:
            from twin.views import view3d

            scene3d = view3d.from_result(result)
            if png:
                paths += view3d.snapshots(scene3d, stage / "pictures")
            if html:
                from twin.views.webpage import write_page

                paths.append(write_page(scene3d, stage / "scene.html"))
        return [folder / p.relative_to(stage) for p in paths]
