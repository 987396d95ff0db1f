"""Output files (``twin.files``): writes are all or nothing, folders are published whole."""

from __future__ import annotations

import os

import pytest
from _helpers import raises_naming

import twin.files
from twin.errors import InputError
from twin.files import publish, safe_name, write_atomic


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


def published(out, files, *, owned=(), fail=None):
    """Publish ``files`` (relative name -> text) as ``out``; ``fail`` is raised midway."""
    with publish(out, name="--out", owned=owned) as stage:
        for name, text in files.items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).write_text(text)
            if fail is not None:
                raise fail


def tree(folder):
    """Every file under ``folder`` (links not followed) with its text."""
    return {
        str(p.relative_to(folder)): p.read_text() if p.is_file() else "->"
        for p in sorted(folder.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


def test_a_folder_is_published_whole_keeping_what_twin_did_not_write(tmp_path):
    out = tmp_path / "out"
    published(out, {"metrics.json": "1", "surface.ply": "1", "carrier.ply": "1"})
    (out / "notes.txt").write_text("mine")
    (out / "plots").mkdir()
    (out / "plots" / "mine.png").write_text("mine")
    owned = ["metrics.json", "surface.ply", "carrier.ply", "plots/dose_area.png"]
    published(out, {"metrics.json": "2", "surface.ply": "2"}, owned=owned)
    # the new set, the user's files, and not the twin file this run left out
    assert tree(out) == {
        "metrics.json": "2",
        "notes.txt": "mine",
        "plots/mine.png": "mine",
        "surface.ply": "2",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing staged is left


@pytest.mark.parametrize("fault", [KeyboardInterrupt(), OSError(28, "No space left on device")])
def test_a_failed_or_interrupted_publish_leaves_the_old_set(tmp_path, fault):
    out = tmp_path / "out"
    published(out, {"metrics.json": "1", "surface.ply": "1"})
    with pytest.raises((KeyboardInterrupt, InputError)):  # a full disk is one line
        published(out, {"metrics.json": "2"}, fail=fault)
    assert tree(out) == {"metrics.json": "1", "surface.ply": "1"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_kill_between_the_renames_is_undone_and_strays_cleaned_by_the_next_run(
    tmp_path, monkeypatch
):
    out = tmp_path / "out"
    published(out, {"metrics.json": "1", "surface.ply": "1"})
    (out / "notes.txt").write_text("mine")
    (out / ".twin-0123.partial").write_text("a killed write's")
    renames, rename = [], os.rename

    def killed_after_the_first(src, dst):
        renames.append(dst)
        rename(src, dst)
        raise SystemExit  # stands for SIGKILL: no clean-up code runs after the first rename

    monkeypatch.setattr(twin.files.os, "rename", killed_after_the_first)
    with pytest.raises(SystemExit):
        published(out, {"metrics.json": "2", "surface.ply": "2"})
    monkeypatch.undo()
    # simulate the kill: what the interrupted run's clean-up would have undone is back
    aside = renames[0]
    if not aside.exists():
        out.rename(aside)
    (tmp_path / f"{aside.name[: -len('.old')]}.new").mkdir(exist_ok=True)
    published(out, {"metrics.json": "3"}, owned=["metrics.json", "surface.ply"])
    assert tree(out) == {"metrics.json": "3", "notes.txt": "mine"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_links_inside_the_folder_are_never_written_or_deleted_through(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "dose_area.png").write_text("not twin's")
    out = tmp_path / "out"
    out.mkdir()
    (out / "plots").symlink_to(elsewhere)
    (out / "link.txt").symlink_to(elsewhere / "dose_area.png")
    owned = ["plots/dose_area.png"]
    published(out, {"metrics.json": "1"}, owned=owned)  # no plots: the user's link stays
    assert (out / "plots").is_symlink() and (out / "link.txt").is_symlink()
    published(out, {"plots/dose_area.png": "twin's"}, owned=owned)  # a real folder replaces it
    assert not (out / "plots").is_symlink()
    assert (out / "plots" / "dose_area.png").read_text() == "twin's"
    assert (elsewhere / "dose_area.png").read_text() == "not twin's"


def test_an_unwritable_folder_is_one_line(tmp_path, monkeypatch):
    out = tmp_path / "out"
    published(out, {"metrics.json": "1"})
    monkeypatch.setattr(twin.files.os, "access", lambda path, mode: False)  # as if read-only
    with raises_naming("cannot write", "Permission denied", at=f"--out {out}"):
        published(out, {"metrics.json": "2"})
    assert tree(out) == {"metrics.json": "1"}


@pytest.mark.parametrize(
    ("name", "safe"),
    [("../../escaped", "_.._escaped"), ("/abs/name", "_abs_name"), ("..", "_"), ("p-01", "p-01")],
)
def test_names_become_file_names_inside_their_folder(tmp_path, name, safe):
    assert safe_name(name) == safe
    assert (tmp_path / safe_name(name)).resolve().parent == tmp_path.resolve()
