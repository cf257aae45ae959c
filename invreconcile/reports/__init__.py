"""Reports that auditors and pharmacists can act on: XLSX, HTML, JSON, CSV, the
self-inspection statement, the bureau's risk ranking and random selection.

Build a :class:`Report` with :func:`build_report`, then hand it to a writer
(:func:`write_xlsx`, :func:`write_json`, :func:`write_csv`, or ``reports.html.write_html``).
"""
from .model import Report, build_report
from .privacy import Privacy, mask_id, mask_name, mask_psn
from .ranking import rank_stores, sample_stores

__all__ = ["Privacy", "Report", "build_report", "mask_id", "mask_name", "mask_psn", "rank_stores",
           "sample_stores"]
