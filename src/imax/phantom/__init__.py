"""Synthetic chest X-ray phantom: imax's embedded default dataset.

One latent truth per image (:mod:`.cohort`) drives the pixels (:mod:`.anatomy`, :mod:`.render`), the
masks and CTR/CPAR, the reports (:mod:`.reports`), the labels (:mod:`.labels`) and the VQA answers
(:mod:`.vqa`); :mod:`.writers` emit all seven sources in their native formats and :mod:`.truth` saves
the truth as ``truth.parquet``. Entry point: :func:`generate`.
"""

from imax.phantom.generate import PhantomSummary, generate
from imax.phantom.preview import write_contact_sheet

__all__ = ["PhantomSummary", "generate", "write_contact_sheet"]
