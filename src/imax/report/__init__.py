"""Reports of the study and the record browser: self-contained static HTML pages (plus Markdown).

* :func:`write_report` — results JSON → ``report.html`` / ``report.md`` / ``plots/*.png``.
* :func:`write_browser` — built dataset directory → a page to page through image-centric records.
"""

from imax.report.browse import write_browser
from imax.report.html import write_report

__all__ = ["write_browser", "write_report"]
