"""Plain-text output shared by the library's text reports and the command line."""

from __future__ import annotations

from collections.abc import Sequence


def table(rows: Sequence[Sequence[object]], *, align: str = "lr") -> str:
    """Return rows of cells as aligned text, two spaces between columns.

    ``align`` is ``"lr"`` (the first column left-aligned, the others right-aligned) or
    ``"l"`` (every column left-aligned, trailing spaces stripped).
    """
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = (
        "  ".join(
            str(c).rjust(w) if i and align == "lr" else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    )
    return "\n".join(line.rstrip() if align == "l" else line for line in lines)
