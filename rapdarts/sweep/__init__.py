"""The paper's lambda sweep, automated: many searches with lambda drawn log-uniformly, run in parallel
(local processes or Ray), resumable, judged against budgets, with the cost-vs-lambda plot; then the
rest of the paper's procedure: the best distinct genotypes under budget trained (a selection), and
one training or search repeated over seeds, on the same backends."""

from rapdarts.sweep.backends import SweepOptions
from rapdarts.sweep.plan import plan_sweep
from rapdarts.sweep.runner import Sweep, load_sweep, resume_sweep, start_sweep
from rapdarts.sweep.seeds import load_seeds, resume_seeds, search_seeds, train_seeds
from rapdarts.sweep.selection import select_genotypes
from rapdarts.sweep.selection_run import load_selection, plan_selection, resume_selection, start_selection

__all__ = ["plan_sweep", "Sweep", "SweepOptions", "load_sweep", "resume_sweep", "start_sweep",
           "select_genotypes", "plan_selection", "start_selection", "load_selection", "resume_selection",
           "train_seeds", "search_seeds", "load_seeds", "resume_seeds"]
