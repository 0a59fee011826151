"""The Ray engine: every walk-forward task becomes a Ray task running the same
:func:`qseq.backtest.walk_forward.run_task` as the local engine; results come back in task order.

Without an address it starts a private local cluster bound to 127.0.0.1 with no dashboard and
shuts it down afterwards; with ``address`` (e.g. ``ray://head:10001`` or ``auto``) it joins an
existing cluster, which you secure and expose yourself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from qseq.backtest.walk_forward import FoldOutput, Task, WalkForwardSpec, run_task
from qseq.errors import ConfigError

log = logging.getLogger(__name__)


def run_on_ray(tasks: Sequence[Task], parts: dict[str, pd.DataFrame], dates: pd.DatetimeIndex,
               spec: WalkForwardSpec, work_dir: str | None, workers: int,
               address: str | None = None,
               order: Sequence[int] | None = None) -> list[list[FoldOutput]]:
    """Run ``tasks`` as Ray tasks, submitted in ``order`` (default: as given); results come
    back in task order."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray engine needs Ray: pip install 'qseq[ray]' "
                          "(or use --engine local)") from None
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1",
                     log_to_driver=False, configure_logging=False)
        started = True
    try:
        threads = spec.threads or 1
        remote = ray.remote(num_cpus=threads)(run_task)
        data_refs = {group: ray.put(frame) for group, frame in parts.items()}
        dates_ref = ray.put(dates)
        order = range(len(tasks)) if order is None else order
        refs = {i: remote.remote(tasks[i], data_refs[tasks[i].group], dates_ref, spec, work_dir,
                                 threads)  # torch threads = the CPUs Ray reserved for the task
                for i in order}
        log.info("ray: %d tasks submitted", len(refs))
        return ray.get([refs[i] for i in range(len(tasks))])
    finally:
        if started:
            ray.shutdown()
