"""Weight-based clinical scorers are plug-ins: missing weights → "unavailable", never a crash or download."""

from __future__ import annotations

from imax.evaluate.plugins import load_plugins


def test_missing_paths_are_unavailable(tmp_path):
    scorers, unavailable = load_plugins({"chexbert": None, "radgraph": tmp_path / "nope"})
    assert scorers == []
    assert "no local weights" in unavailable["chexbert"]
    assert "does not exist" in unavailable["radgraph"]


def test_broken_weights_are_unavailable(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    scorers, unavailable = load_plugins({"chexbert": tmp_path, "radgraph": tmp_path})
    assert scorers == []
    assert "could not load" in unavailable["chexbert"] and "could not load" in unavailable["radgraph"]
