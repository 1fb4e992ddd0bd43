"""How a run computes: the torch device and threads, data-parallel processes, seeds, the learning-rate
schedule, the one evaluation loop, progress bars, what the run was computed with, and the
machinery every resumable run (search, training) shares."""
