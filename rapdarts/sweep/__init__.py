"""The paper's lambda sweep, automated: many searches with lambda drawn log-uniformly, run in parallel
(local processes or Ray), resumable, judged against budgets, with the cost-vs-lambda plot."""

from rapdarts.sweep.plan import plan_sweep
from rapdarts.sweep.runner import Sweep, SweepOptions, load_sweep, resume_sweep, start_sweep

__all__ = ["plan_sweep", "Sweep", "SweepOptions", "load_sweep", "resume_sweep", "start_sweep"]
