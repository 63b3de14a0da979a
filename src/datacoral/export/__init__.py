"""``datacoral events export``: an environment's events or bad rows, of a time range,
to NDJSON, CSV or Parquet, in constant memory.

    window.py           the time range [since, until), and how an export is resumed
    records.py          events and bad rows as columns of typed values
    ndjson_writer.py    one JSON object per line
    csv_writer.py       a header, then one line per record
    parquet_writer.py   typed columns, a row group at a time (pyarrow: the export extra)
    writer.py           the formats and the interface their writers share
    output.py           a file, renamed into place when complete, or standard output
    progress.py         the progress bar on a terminal
    exporter.py         one export, from the store's pages to a writer

The store reads the rows a page at a time (``AdminStorage.iter_events``), so memory
stays that of a page and, for Parquet, of one row group.
"""

from datacoral.export.errors import ExportError as ExportError
from datacoral.export.exporter import ExportRequest as ExportRequest
from datacoral.export.exporter import ExportSummary as ExportSummary
from datacoral.export.exporter import export as export
from datacoral.export.window import Window as Window
from datacoral.export.window import window as window
from datacoral.export.writer import Format as Format
