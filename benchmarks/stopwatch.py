"""Which latency statistic repeats best on this machine? Candidate estimators on the same raw timings.

Whole evaluation networks (C=36, 20 cells, batch 1, by default) are timed in ``--rounds`` interleaved
rounds: every round times every network once, in a new random order, in a fresh ONNX Runtime
session (warm-up runs, then ``--blocks`` short blocks of ``--block`` runs). The rounds are then cut
into consecutive groups of ``--group`` rounds, each group standing for one independent measurement
taken at another moment (as a budget check or a re-timing minutes later would be), and every
candidate statistic is computed per group:

* ``median_of_sessions``: the median of the session medians (rapdarts before this benchmark);
* ``mean_of_sessions``: their mean (what pyperf reports, with its sd);
* ``fastest_two_thirds``: the mean of the fastest two thirds of the session medians (LightNAS);
* ``min_block``: the fastest block median (timeit reports the minimum);
* ``q10_block`` / ``q25_block`` / ``q33_block``: low quantiles of all block medians of the group
  (``q10_block`` is what rapdarts used from 2026-12-03 until the Harrell-Davis estimate below);
* ``q25_session``: the first quartile of the session medians;
* ``median_block``: the median of all block medians;
* ``iqm_block``: the interquartile mean of all block medians (what rapdarts used before);
* ``hd_q10_block`` / ``hd_q20_block``: Harrell-Davis estimates of the 10th / 20th percentile of the block medians
  (a Beta-weighted mean of all of them; ``hd_q10_block`` is what rapdarts uses since 2026-12-04,
  :func:`rapdarts.ondevice.statistic.latency_of`);
* ``fastest_fifth_block``: the mean of the fastest fifth of the block medians;
* ``min_run`` / ``q10_run`` / ``hd_q10_run``: the fastest single run, and the plain and Harrell-Davis 10th
  percentiles of all single runs (no blocks).

``--slow-phases`` runs a load beside the measurement, as a shared machine's neighbours do: every core
busy (or one) for 5-40 s, then idle for 10-60 s, repeated, so the statistics can be compared under
slow phases as well as on a quiet machine.

Repeatability is the relative difference between the estimates of consecutive groups of the same
network (independent measurements): the share of pairs within 3% and 5%, the median and the
largest difference, and the relative sd of one estimate that the differences imply (their root mean
square over the square root of two), the figure that decides the share within 3% once there are
many. Slow phases of a shared machine only ever add time, so statistics from the fast side of the
distribution should repeat best; this measures by how much, here.

    python benchmarks/stopwatch.py                      # 5 networks, 60 rounds of 3 blocks of 10 runs (~4 min)
    python benchmarks/stopwatch.py --slow-phases        # the same, with a neighbour's slow phases beside it
    python benchmarks/stopwatch.py --rounds 24 --networks 2 --no-write      # a quick look
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rapdarts.ondevice.statistic import block_medians, harrell_davis_quantile, interquartile_mean  # noqa: E402

CANDIDATES = ("median_of_sessions", "mean_of_sessions", "fastest_two_thirds", "min_block", "q10_block", "q25_block",
              "q33_block", "q25_session", "median_block", "iqm_block", "hd_q10_block", "hd_q20_block",
              "fastest_fifth_block", "min_run", "q10_run", "hd_q10_run")


def estimate(name: str, runs: list[list[float]], block: int) -> float:
    """Candidate statistic ``name`` of one group of sessions (each a list of its timed runs, ms, in order)."""
    if name.endswith("_run"):
        every = [t for session in runs for t in session]
        if name == "min_run":
            return min(every)
        return harrell_davis_quantile(every, 0.10) if name == "hd_q10_run" else float(np.quantile(every, 0.10))
    sessions = [block_medians(session, block) for session in runs]
    blocks = [b for session in sessions for b in session]
    medians = [statistics.median(session) for session in sessions]
    if name == "median_of_sessions":
        return statistics.median(medians)
    if name == "mean_of_sessions":
        return statistics.mean(medians)
    if name == "fastest_two_thirds":
        fastest = sorted(medians)[:max(1, round(len(medians) * 2 / 3))]
        return statistics.mean(fastest)
    if name == "min_block":
        return min(blocks)
    if name == "q25_session":
        return float(np.quantile(medians, 0.25))
    if name == "median_block":
        return float(np.median(blocks))
    if name.startswith("hd_q"):
        return harrell_davis_quantile(blocks, int(name[4:6]) / 100)
    if name == "fastest_fifth_block":
        fastest = sorted(blocks)[:max(1, round(len(blocks) / 5))]
        return statistics.mean(fastest)
    if name == "iqm_block":
        return interquartile_mean(blocks)
    quantile = {"q10_block": 0.10, "q25_block": 0.25, "q33_block": 1 / 3}[name]
    return float(np.quantile(blocks, quantile))


def collect(args: argparse.Namespace) -> tuple[dict[str, list[list[float]]], float]:
    """The timed runs (ms) of every session of every network, rounds interleaved; and the seconds it took."""
    from rapdarts.costs.target import TargetNetwork
    from rapdarts.data import DataShape
    from rapdarts.latency.networks import network_model
    from rapdarts.ondevice.timing import TimingSettings, make_session
    from rapdarts.space.genotype import preset, varied_genotype

    rng = random.Random(args.seed)
    genotypes = [("PDARTS", preset("PDARTS"))] + [(f"random-{i}", varied_genotype(rng, i))
                                                  for i in range(args.networks - 1)]
    target = TargetNetwork(DataShape(10, 3, (32, 32)), args.channels, args.cells)
    models = {name: network_model(genotype, target) for name, genotype in genotypes}
    settings = TimingSettings(intra_threads=args.threads)
    sessions: dict[str, list[list[float]]] = {name: [] for name in models}
    started = time.perf_counter()
    order = list(models)
    for round_index in range(args.rounds):
        random.Random(args.seed * 1000 + round_index).shuffle(order)
        for name in order:
            data, inputs = models[name]
            session = make_session(data, settings)
            feed = {session.get_inputs()[0].name: inputs}
            for _ in range(args.warmup):
                session.run(None, feed)
            runs = []
            for _ in range(args.blocks * args.block):
                start = time.perf_counter_ns()
                session.run(None, feed)
                runs.append((time.perf_counter_ns() - start) / 1e6)
            sessions[name].append(runs)
    return sessions, time.perf_counter() - started


class SlowPhases:
    """A neighbour, as on a shared machine: one or every core busy for 5-40 s, idle for 10-60 s, over and over (busy
    processes started from a thread; :meth:`stop` ends them)."""

    def __init__(self, seed: int = 0):
        import subprocess
        import threading

        self._subprocess, self._rng = subprocess, random.Random(seed)
        self._stopped = threading.Event()
        self._running: list = []
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            busy, cores = self._rng.uniform(5, 40), self._rng.choice([1, 2])
            spin = f"import time\nend = time.time() + {busy}\nwhile time.time() < end: pass"
            self._running = [self._subprocess.Popen([sys.executable, "-c", spin]) for _ in range(cores)]
            for process in self._running:
                process.wait()
            self._stopped.wait(self._rng.uniform(10, 60))

    def stop(self) -> None:
        self._stopped.set()
        for process in self._running:
            process.kill()


def repeatability(sessions: dict[str, list[list[float]]], group: int, block: int) -> dict[str, dict[str, float]]:
    """Per candidate: how far apart estimates from consecutive groups of ``group`` rounds are (all networks)."""
    result = {}
    for name in CANDIDATES:
        differences = []
        for rounds in sessions.values():
            estimates = [estimate(name, rounds[i:i + group], block) for i in range(0, len(rounds) - group + 1, group)]
            differences += [abs(b / a - 1.0) for a, b in zip(estimates, estimates[1:])]
        differences = np.asarray(differences)
        result[name] = {"pairs": int(len(differences)), "within_3pct": float((differences <= 0.03).mean()),
                        "within_5pct": float((differences <= 0.05).mean()),
                        "median_difference": float(np.median(differences)), "max_difference": float(differences.max()),
                        "sd_of_one_estimate": float(np.sqrt(np.mean(differences ** 2) / 2))}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=5, help="networks: PDARTS and random genotypes")
    parser.add_argument("--channels", type=int, default=36)
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--group", type=int, default=10, help="rounds per independent estimate")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--block", type=int, default=10, help="runs per block")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slow-phases", action="store_true", help="run a neighbour's slow phases beside it")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from common import report

    from rapdarts.ondevice.machine import device_name

    neighbour = SlowPhases(args.seed) if args.slow_phases else None
    try:
        sessions, seconds = collect(args)
    finally:
        if neighbour is not None:
            neighbour.stop()
    results = repeatability(sessions, args.group, args.block)
    best = min(CANDIDATES, key=lambda n: (-results[n]["within_3pct"], results[n]["median_difference"]))
    spread = {name: (max(statistics.median(s) for s in rounds) - min(statistics.median(s) for s in rounds))
              / statistics.median(statistics.median(s) for s in rounds) for name, rounds in sessions.items()}
    result = {"benchmark": "stopwatch", "machine": f"{device_name()}, {args.threads} ONNX Runtime thread(s)",
              "settings": vars(args), "seconds": seconds, "session_median_spread": spread, "candidates": results,
              "most_repeatable": best, "runs_ms": sessions}
    summary = "; ".join(f"{n}: {r['within_3pct']:.0%} of {r['pairs']} pairs within 3%, median diff "
                        f"{r['median_difference']:.1%}, max {r['max_difference']:.1%}, sd {r['sd_of_one_estimate']:.2%}"
                        for n, r in results.items())
    condition = "with slow phases beside it" if args.slow_phases else "no load beside it"
    report("stopwatch", result, f"{condition}: C={args.channels}/{args.cells} cells, {args.networks} networks, "
           f"{args.rounds} rounds "
           f"of {args.blocks}x{args.block} runs, estimates of {args.group} rounds ({seconds / 60:.1f} min); session "
           f"medians spread {min(spread.values()):.0%}-{max(spread.values()):.0%}; {summary}; most repeatable: {best}",
           write=not args.no_write)


if __name__ == "__main__":
    main()
