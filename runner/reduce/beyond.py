"""The report's "Beyond the paper" section: what the paper's single numbers cannot say, from the same run.

R01 worst-case robust accuracy (runner.reduce.robustness), C01 the paper's comparisons as tests and S01 per-speaker
accuracy (runner.reduce.claims), X06 paper vs clean vs speaker protocol (runner.reduce.protocols),
TR01 transfer matrices (runner.reduce.transfer_tables), W01 attacks on the waveform
(runner.reduce.waveform_tables). Each builder returns None when the run lacks its inputs.
"""

from __future__ import annotations

from .claims import table_claims, table_speakers
from .protocols import table_leak
from .render import Table
from .robustness import table_worst_case
from .rundata import RunData
from .tables import Summary
from .transfer_tables import table_transfer
from .uncertainty import ci_note
from .waveform_tables import table_waveform


def beyond_tables(data: RunData, s: Summary) -> list[Table]:
    """Every "beyond the paper" table the run supports, in report order."""
    r01_note = ci_note(s.stats, "segment")  # robustness.worst_case still resamples segments
    found = [table_worst_case(s.attack_rows, s.variants, s.stats, r01_note) if not s.attack_rows.empty else None,
             table_claims(s), table_speakers(s), table_leak(s), table_transfer(data.frame("transfer"), s.best, s.stats),
             table_waveform(data.waveform_frame(), s.stats, ci_note(s.stats))]
    return [t for t in found if t is not None]
