"""Lead data: reading exports (CSV, Parquet, folders, SQL), checking them against the feature
spec, fingerprinting them; and the demo leads (`synth`), output folders (`folders`) and
text-column helpers (`columns`) beside them."""

from leadml.data.check import MAX_EXAMPLES, NA_WORDS, CheckedLeads, check_leads, coerce_feature
from leadml.data.fingerprint import describe_data, fingerprint, row_hashes
from leadml.data.read import (
    DATA_EXTENSIONS,
    partition_files,
    read_batches,
    read_leads,
    write_table,
)

__all__ = [
    "DATA_EXTENSIONS", "MAX_EXAMPLES", "NA_WORDS", "CheckedLeads", "check_leads",
    "coerce_feature", "describe_data", "fingerprint", "partition_files", "read_batches",
    "read_leads", "row_hashes", "write_table",
]  # fmt: skip
