"""Portfolio work: review a whole file of snapshots, simulate a ruleset change on one,
and turn the Lending Club loans into personal-loan snapshots.

No Flask here; the engine and the store are used through their own APIs. The command
line is app/cli/portfolio.py. Typical use::

    source = SnapshotFile("loans.jsonl", ruleset.contract)
    summary = review(ruleset, source, "loans.results.jsonl", workers=2)
    report = simulate(published, candidate, snapshots)
    html = render_html(report)
"""
from .history import count_logged, log_time, logged_snapshots
from .readers import SnapshotFile
from .report_html import render_html
from .review import Interrupted, ReviewError, ReviewSummary, review
from .simulation import Change, SimulationReport, simulate
from .snapshots import InputError, RowError

__all__ = ["Change", "InputError", "Interrupted", "ReviewError", "ReviewSummary", "RowError", "SimulationReport",
           "SnapshotFile", "count_logged", "log_time", "logged_snapshots", "render_html", "review", "simulate"]
