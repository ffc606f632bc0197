from pathlib import Path

from PIL import Image

from imax.phantom import write_contact_sheet


def test_contact_sheet(phantom200: Path, tmp_path: Path):
    out = write_contact_sheet(phantom200, tmp_path / "sheet.png")
    im = Image.open(out)
    assert im.size == (1024, 1024) and im.mode == "RGB"
    assert len(set(im.getdata())) > 100  # images and coloured overlays, not a blank canvas
