"""What ``twin check`` reports: a text table, a summary line, JUnit XML, Markdown, the exit status.

:class:`CheckRun` holds one run's reports and writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

from twin._text import table as text_table
from twin.files import write_atomic

if TYPE_CHECKING:
    from twin.analysis.check import SceneReport


@dataclass(frozen=True)
class CheckRun:
    """The reports of one ``twin check`` run.

    Attributes
    ----------
    reports : list of SceneReport
        One per scene file, in order.
    seconds : float, s
        Wall time of the run.
    updated : bool
        The baselines were rewritten with the current metrics.
    """

    reports: list[SceneReport]
    seconds: float
    updated: bool = False

    @property
    def errors(self) -> list[str]:
        """The message of each scene that could not be checked."""
        return [r.error for r in self.reports if r.error is not None]

    @property
    def exit_code(self) -> int:
        """The exit status (:func:`exit_code`)."""
        return exit_code(self.reports, update=self.updated)

    def table(self, *, verbose: bool = False) -> str:
        """Return the failed checks as an aligned text table, or every check with ``verbose``.

        Scenes that could not be checked are always rows. Empty when nothing is to be shown.
        """
        return table(self.reports, failures_only=not verbose)

    def summary(self) -> str:
        """One line: scenes and checks passed, failed and invalid, and the time taken."""
        return f"{summary_line(self.reports)} in {self.seconds:.1f} s"

    def write(self, *, junit: Path | None = None, markdown: Path | None = None) -> list[Path]:
        """Write the JUnit XML and / or Markdown reports (each atomically)."""
        files = {}
        if junit is not None:
            files[junit] = junit_xml(self.reports)
        if markdown is not None:
            files[markdown] = markdown_summary(self.reports)
        return write_atomic(files, name="report path") if files else []


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def table(reports: Sequence[SceneReport], *, failures_only: bool = False) -> str:
    """Return the checks as a text table: scene, metric, baseline, now, change, verdict.

    Empty when no row is left (``failures_only`` and everything passed).
    """
    header = ("scene", "metric", "baseline / rule", "now", "change", "verdict")
    rows = [header]
    for report in reports:
        if report.error is not None:
            rows.append((report.name, "(scene)", "-", "-", _error_kind(report), "ERROR"))
            continue
        for r in report.rows:
            if failures_only and r.passed:
                continue
            rows.append((r.scene, r.metric, r.expected, _fmt(r.now), r.change, r.verdict))
    return text_table(rows, align="l") if len(rows) > 1 else ""


def _error_kind(report: SceneReport) -> str:
    return "internal error" if report.internal else "invalid input"


def summary_line(reports: Sequence[SceneReport]) -> str:
    """Return one line counting the scenes that passed, failed and could not be checked."""
    failed = [r for r in reports if r.error is None and r.failed]
    errors = [r for r in reports if r.error is not None]
    internal = sum(r.internal for r in errors)
    checks = sum(len(r.rows) for r in reports)
    bad = sum(len(r.failed) for r in reports)
    return (
        f"{len(reports)} scenes, {checks} checks: {len(reports) - len(failed) - len(errors)} "
        f"scenes passed, {len(failed)} failed ({bad} checks), {len(errors) - internal} invalid"
        + (f", {internal} internal errors" if internal else "")
    )


def exit_code(reports: Sequence[SceneReport], *, update: bool = False) -> int:
    """Return the exit status of ``twin check`` for ``reports``.

    0: all pass; 1: a regression or broken rule; 2: invalid input; 3: an error inside twin
    (and no invalid input).

    After ``update`` the baselines are the current metrics, so only rules can fail.
    """
    if any(r.error is not None and not r.internal for r in reports):
        return 2
    if any(r.internal for r in reports):
        return 3
    kinds = ("rule",) if update else ("rule", "baseline")
    return int(any(row.kind in kinds for r in reports for row in r.failed))


def junit_xml(reports: Sequence[SceneReport]) -> str:
    """JUnit XML: one test case per scene, its failed checks as the failure text."""
    suite = ElementTree.Element(
        "testsuite",
        name="twin check",
        tests=str(len(reports)),
        failures=str(sum(1 for r in reports if r.error is None and r.failed)),
        errors=str(sum(1 for r in reports if r.error is not None)),
    )
    for report in reports:
        case = ElementTree.SubElement(
            suite, "testcase", classname=str(report.path), name=report.name
        )
        if report.error is not None:
            ElementTree.SubElement(case, "error", message=report.error).text = report.error
        elif report.failed:
            text = table([report], failures_only=True)
            message = f"{len(report.failed)} of {len(report.rows)} checks failed"
            ElementTree.SubElement(case, "failure", message=message).text = text
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def markdown_summary(reports: Sequence[SceneReport]) -> str:
    """Return a Markdown summary: the verdict per scene, then every failed check."""
    lines = ["# twin check", "", summary_line(reports), "", "| scene | checks | verdict |"]
    lines.append("| --- | ---: | --- |")
    for r in reports:
        verdict = _error_kind(r) if r.error else ("FAIL" if r.failed else "pass")
        lines.append(f"| {r.name} | {len(r.rows)} | {verdict} |")
    bad = [r for r in reports if r.error or r.failed]
    if bad:
        lines += ["", "## Failures", "", "| scene | metric | baseline / rule | now | change |"]
        lines.append("| --- | --- | --- | ---: | --- |")
        for r in bad:
            if r.error:
                lines.append(f"| {r.name} | (scene) | - | - | {r.error} |")
            for row in r.failed:
                lines.append(
                    f"| {row.scene} | {row.metric} | {row.expected} | {_fmt(row.now)} | "
                    f"{row.change} |"
                )
    return "\n".join(lines) + "\n"
