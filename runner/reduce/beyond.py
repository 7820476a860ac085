"""The report's "Beyond the paper" section: what the paper's single numbers cannot say, from the same run.

R01 worst-case robust accuracy and R02 robust accuracy beside the paper's metric (runner.reduce.robustness), R03
attack-failure checks (runner.reduce.attack_checks), C01 the paper's comparisons as tests and S01 per-speaker
accuracy (runner.reduce.claims), X06 paper vs clean vs speaker protocol (runner.reduce.protocols),
TR01 transfer matrices (runner.reduce.transfer_tables), W01 attacks on the waveform
(runner.reduce.waveform_tables), W02 spectrogram AEs re-synthesised as sound (runner.reduce.resynthesis_tables).
Each builder returns None when the run lacks its inputs.
"""

from __future__ import annotations

from .aggregate import keyed_attack_rows
from .attack_checks import attack_flags, flags_by_config, table_attack_checks, unbounded_results
from .claims import table_claims, table_speakers
from .protocols import table_leak
from .render import Table
from .resynthesis_tables import table_resynthesis
from .robustness import table_robust_accuracy, table_worst_case
from .rundata import RunData
from .summary import Summary
from .transfer_tables import table_transfer
from .uncertainty import ci_note
from .waveform_tables import table_waveform


def _robustness_tables(s: Summary, data: RunData) -> list[Table | None]:
    """R01, R02 and R03 (none without attack rows); the failure-check jobs' rows feed R03's flags only."""
    if s.attack_rows.empty:
        return []
    checks = keyed_attack_rows(data.check_frame())
    flags = attack_flags(s.attack_rows, checks)
    by_config = flags_by_config(flags, s.attack_configs)
    return [table_worst_case(s.attack_rows, s.variants, s.stats, ci_note(s.stats), by_config),
            table_robust_accuracy(s.robust, s.variants, by_config, ci_note(s.stats)),
            table_attack_checks(flags, s.variants, s.attack_configs, unbounded_results(checks))]


def beyond_tables(data: RunData, s: Summary) -> list[Table]:
    """Every "beyond the paper" table the run supports, in report order."""
    found = [*_robustness_tables(s, data), table_claims(s), table_speakers(s),
             table_leak(s), table_transfer(data.frame("transfer"), s.best, s.stats),
             table_waveform(data.waveform_frame(), s.stats, ci_note(s.stats)),
             table_resynthesis(data.frame("attack"), s.stats, ci_note(s.stats))]
    return [t for t in found if t is not None]
