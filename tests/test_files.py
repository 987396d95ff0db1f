"""Output files (``twin.files``): writes are all or nothing."""

from __future__ import annotations

from _helpers import raises_naming

import twin.files
from twin.files import write_atomic


def test_writes_are_all_or_nothing(tmp_path, monkeypatch):
    calls = []

    def full_disk(path, mode):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return open(path, mode)

    monkeypatch.setattr(twin.files, "open", full_disk, raising=False)
    files = {tmp_path / "a.txt": "a", tmp_path / "sub" / "b.txt": b"b"}
    with raises_naming(
        "cannot write", "No space left on device", at=f"--out {tmp_path}/sub/b.txt"
    ):
        write_atomic(files, name="--out")
    assert len(calls) == 2
    assert [p.name for p in tmp_path.rglob("*")] == ["sub"]  # no file, no partial one
    monkeypatch.undo()
    name = "n" * 250  # a long name: the temporary one must still fit
    assert write_atomic({**files, tmp_path / name: ""}, name="--out") == [
        *files,
        tmp_path / name,
    ]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.txt", name, "sub"]
