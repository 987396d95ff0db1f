"""The optional pictures of a render folder: plots, 3D pictures from named views, the HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from twin._extras import require
from twin.files import remove_stale

if TYPE_CHECKING:
    from twin.pipeline.render import RenderResult

#: The modules each kind of picture needs (the ``viz`` extra).
NEEDS = {
    "plots": ("matplotlib",),
    "png": ("pyvista",),
    "html": ("pyvista", "trame_pyvista", "nest_asyncio2"),
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


def write_pictures(
    result: RenderResult, folder: Path, *, plots: bool, png: bool, html: bool
) -> list[Path]:
    """Write the pictures asked for into a render's folder; return their paths.

    ``plots/*.png`` (:mod:`twin.views.plots`), ``pictures/*.png`` from named views and
    ``scene.html`` (:mod:`twin.views.view3d`). Those an earlier render left in ``folder`` are
    removed first, so the folder holds only what this render made.

    Parameters
    ----------
    result : RenderResult
    folder : Path
        The render's result folder.
    plots, png, html : bool
        Which pictures to write.
    """
    from twin.views.plots import PLOTS, write_plots
    from twin.views.view3d import VIEWS

    require_pictures(plots=plots, png=png, html=html)
    remove_stale(
        folder,
        [*(f"plots/{p}.png" for p in PLOTS), *(f"pictures/{v}.png" for v in VIEWS), "scene.html"],
    )
    paths = []
    if plots:
        paths += write_plots(result, folder / "plots")
    if png or html:
        from twin.views import view3d

        scene3d = view3d.from_result(result)
        if png:
            paths += view3d.snapshots(scene3d, folder / "pictures")
        if html:
            paths.append(view3d.export_html(scene3d, folder / "scene.html"))
    return paths
