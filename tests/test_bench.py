"""Benchmarks (``twin.analysis.bench``, ``twin bench``): every usable backend side by side."""

from __future__ import annotations

from twin.cli import main


def test_bench_backend_all_times_every_usable_backend_side_by_side(tmp_path, capsys):
    from twin.engine.backends.cuda import status
    from twin.raycast.cuda import simulated

    out = tmp_path / "bench.md"
    args = ["bench", "--backend", "all", "--subdivisions", "5", "--repeat", "1"]
    assert main([*args, "--out", str(out)]) == 0
    text = out.read_text()
    assert text.strip() == capsys.readouterr().out.strip()
    rows = {
        line.split("|")[1].strip(): line.split("|")[2:-1]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| backend")
    }
    assert "embree" in rows and int(rows["embree"][3]) > 0  # shadow rays
    # 10,242 points: too many for the brute-force reference.
    assert "- reference: not run (brute force, for scenes of at most 5000 points)" in text
    if simulated():
        assert "- cuda: not run (numba's CUDA simulator is not a GPU)" in text
    elif status() is not None:
        assert f"- cuda: not run ({status()})" in text
    else:  # the same segments: cast, or cleared by shafts on the CPU
        assert int(rows["cuda"][3]) == int(rows["embree"][3]) + int(rows["embree"][4])
