"""Proof on live data: is each machine-checkable promise of the policy kept right now?

``pledge prove`` asks the platform's databases (and Pledge's own records) one counting
question per promise and reports, for each, ``kept``, ``broken`` or ``unknown`` (cannot
be checked on data, with the reason), with counts and a few keyed examples, never
personal data. It is the privacy officer's and the auditor's view, and the independent
oracle of the retention tests: it shares the rules' parsing with the sweep, not the
sweep's arithmetic.

* retention rules (:mod:`pledge.prove.retention`): rows past their limit that are
  neither exempt nor held;
* age (:mod:`pledge.prove.people`): nobody under the minimum age; a parent's consent in
  the band that needs one;
* Pledge's own records (:mod:`pledge.prove.own`): open requests past their due date,
  breaches past the authority's deadline;
* everything else (:mod:`pledge.prove.promises`): listed, with why it cannot be checked.

Runs are stored (``prove_runs``) with an audit entry ``prove.run``
(:mod:`pledge.prove.run`); :mod:`pledge.prove.render` words them as text, JSON or HTML.
"""

from pledge.prove.findings import REASONS, STATUSES, Finding, Proof, pseudonym
from pledge.prove.render import FORMATS, describe, render
from pledge.prove.run import ProveError, get_run, history, latest, prove, run, save

__all__ = ["FORMATS", "REASONS", "STATUSES", "Finding", "Proof", "ProveError", "describe", "get_run",
           "history", "latest", "prove", "pseudonym", "render", "run", "save"]
