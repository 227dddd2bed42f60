"""Bulk work that runs next to the services: streaming file import.

The engine reads files and feeds the ingest services in batches; it never touches SQL itself.
"""

from __future__ import annotations

from touchflow.engine.importer import ImportReport, import_file
from touchflow.engine.readers import MappingError, ReadError, RowSource, canonical_headers, open_rows

__all__ = ["ImportReport", "MappingError", "ReadError", "RowSource", "canonical_headers", "import_file",
           "open_rows"]
