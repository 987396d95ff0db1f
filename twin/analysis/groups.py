"""Drive groups: which emitters share one drive level (one LED, a channel, a zone, a string).

The drive optimiser (:mod:`twin.analysis.optimise`) gives every emitter of a group the same
level: one per LED, per channel, per channel and skin region (``zone``), or per driver string
of LEDs in series (``string``: compact patches of one channel, as a board is wired).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin._validation import as_count, check_choice
from twin.analysis.problem import DoseProblem
from twin.errors import InputError

GROUPS = ("emitter", "channel", "zone", "string")
#: LEDs in series on one driver string, by default.
STRING_LEDS = 6


def drive_groups(
    problem: DoseProblem, *, group: str = "emitter", string_leds: int = STRING_LEDS
) -> tuple[list[str], NDArray[np.int64]]:
    """Group the lit emitters of a dose problem (those of channels that are on) for driving.

    Parameters
    ----------
    problem : DoseProblem
    group : {"emitter", "channel", "zone", "string"}
        ``emitter``: one level per LED (named by id); ``channel``: one per channel;
        ``zone``: one per channel and skin region, each LED in the zone of the region that
        receives most of its power (``"<channel>/<region>"``; ``"<channel>/none"`` when its
        light reaches no region); ``string``: one per driver string, ``string_leds`` LEDs of
        one channel in series, the strings compact patches made by splitting each channel's
        LEDs in half along their widest extent until each part holds one string
        (``"<channel>/s<k>"``; each channel's last string takes the remainder; needs the
        problem's ``positions_mm``).
    string_leds : int
        LEDs per string, >= 1.

    Returns
    -------
    names : list of str
        (g,) group names.
    group_of : (n,) int64
        Each emitter's group, -1 for emitters of channels that are off.

    Raises
    ------
    InputError
        For an unknown group, a string size below 1, driver strings without emitter
        positions, or channel levels that turn every channel off.
    """
    check_choice(group, GROUPS, name="group")
    string_leds = as_count(string_leds, name="string_leds")
    channel = problem.channel.astype(str)
    on = np.array([problem.channel_levels.get(c, 0.0) > 0 for c in channel])
    if not on.any():
        msg = f"{problem.name}: channel_levels: every channel is off; there is nothing to optimise"
        raise InputError(msg)
    label = np.full(len(channel), "", dtype=object)
    if group == "emitter":
        assert problem.ids is not None  # DoseProblem fills in the default ids
        label[on] = [str(i) for i in problem.ids[on]]
    elif group == "channel":
        label[on] = channel[on]
    elif group == "zone":
        regions = problem.regions
        zone = np.full(len(channel), "none", dtype=object)
        if regions:
            names = list(regions)
            areas = np.stack([regions[r] * problem.areas_mm2 for r in names])
            received = (scipy.sparse.csr_array(areas) @ problem.matrix).toarray()
            hit = received.max(axis=0) > 0
            zone[hit] = np.array(names)[received.argmax(axis=0)[hit]]
        label[on] = [f"{c}/{z}" for c, z in zip(channel[on], zone[on], strict=True)]
    else:
        if problem.positions_mm is None:
            msg = f"{problem.name}: group 'string' needs the emitters' positions_mm"
            raise InputError(msg)
        for c in dict.fromkeys(channel[on]):
            idx = np.flatnonzero(channel == c)
            strings = _strings(problem.positions_mm[idx], string_leds)
            label[idx] = [f"{c}/s{k + 1:03d}" for k in strings]
    names = list(dict.fromkeys(label[on]))
    lookup = {n: i for i, n in enumerate(names)}
    group_of = np.array([lookup.get(x, -1) for x in label], dtype=np.int64)
    return names, group_of


def _strings(points_mm: NDArray[np.float64], size: int) -> NDArray[np.int64]:
    """Return the string index of each point.

    Recursive halving along the widest extent (ties broken along the next widest) into
    compact patches of ``size`` points (one patch may hold fewer), numbered in splitting
    order.
    """
    out = np.empty(len(points_mm), dtype=np.int64)
    queue, number = [np.arange(len(points_mm))], 0
    while queue:
        idx = queue.pop(0)
        if len(idx) <= size:
            out[idx] = number
            number += 1
            continue
        left = size * (-(-len(idx) // size) // 2)
        extent = np.ptp(points_mm[idx], axis=0)
        axes = np.argsort(extent)  # ties along the widest axis broken along the next widest
        order = idx[np.lexsort((points_mm[idx, axes[1]], points_mm[idx, axes[2]]))]
        queue += [order[:left], order[left:]]
    return out
