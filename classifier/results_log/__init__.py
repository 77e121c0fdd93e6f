"""The --guardar log: appended record by record, and reopened where a run stopped.

log_file: opening, writing, resuming; paths: one key per photo; csv_recovery and
json_recovery: reading a log back, a torn last record told from a whole one; records:
what both recoveries read. Records are written by classifier.output's encoders.
"""

from .log_file import ResultsLog, ResultsLogError
from .paths import same_photo

__all__ = ["ResultsLog", "ResultsLogError", "same_photo"]
