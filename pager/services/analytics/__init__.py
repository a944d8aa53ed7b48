"""Response analytics and exports (docs/analytics.md): the report (`report.py`) and the streamed
exports (`export.py`)."""
