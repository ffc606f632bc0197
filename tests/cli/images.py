"""User images in the formats ``imax predict`` reads: 8/16-bit PNG, JPEG, DICOM, and a corrupt file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_dicom(path: Path, arr: np.ndarray, photometric: str = "MONOCHROME2",
                window: tuple[float, float] | None = None) -> Path:
    """A single-frame 12-bit-in-16 DICOM (Secondary Capture, explicit VR little endian) with an
    optional VOI window (centre, width)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = arr.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def mixed_folder(root: Path, chest: np.ndarray) -> dict[str, tuple[int, int]]:
    """Write ``chest`` (uint8 (H, W)) in five forms under ``root``; returns file → (width, height)
    for the readable ones. ``broken.png`` is not an image."""
    root.mkdir(parents=True, exist_ok=True)
    sizes = {}
    Image.fromarray(chest).save(root / "plain8.png")
    sizes["plain8.png"] = (chest.shape[1], chest.shape[0])
    big = np.asarray(Image.fromarray(chest).resize((80, 100)), dtype=np.uint16) * 200 + 1000  # 16-bit range
    Image.fromarray(big.astype(np.uint16)).save(root / "deep16.png")
    sizes["deep16.png"] = (80, 100)
    rgb = np.stack([np.asarray(Image.fromarray(chest).resize((120, 90)))] * 3, axis=-1)
    Image.fromarray(rgb).save(root / "photo.jpg", quality=95)
    sizes["photo.jpg"] = (120, 90)
    (root / "sub").mkdir(exist_ok=True)
    inverted = 4095 - chest.astype(np.uint16) * 16  # MONOCHROME1: stored dark means white
    write_dicom(root / "sub" / "scan.dcm", inverted, "MONOCHROME1", window=(2048, 4096))
    sizes["sub/scan.dcm"] = (chest.shape[1], chest.shape[0])
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not an image")
    return sizes
