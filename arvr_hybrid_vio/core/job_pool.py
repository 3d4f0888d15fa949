"""Independent jobs in worker processes, with a progress bar (dataset rendering, track caches)."""
from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from tqdm import tqdm

JobT = TypeVar("JobT")


def run_jobs(work: Callable[[JobT], str], jobs: Sequence[JobT], *, workers: int, desc: str, unit: str) -> None:
    """``work(job)`` for every job, in ``workers`` forked processes (in this one when ``workers <= 1``), in any
    order; the bar shows the name each returns. ``work`` must be a module-level function (it is pickled)."""
    with tqdm(total=len(jobs), desc=desc, unit=unit, file=sys.stderr) as bar:
        if workers <= 1:
            for job in jobs:
                bar.set_postfix_str(work(job))
                bar.update()
            return
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for name in pool.imap_unordered(work, jobs):
                bar.set_postfix_str(name)
                bar.update()
