"""``qseq pipeline serve``: every spec on its own cron schedule in one long-lived process.

Scheduling is APScheduler's (cron triggers with time zones, one instance per pipeline at a
time, missed runs coalesced). A failing pipeline is logged and the others keep running. The
same specs run from cron or systemd with ``qseq pipeline run SPEC`` (see the README).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from qseq.errors import ConfigError
from qseq.pipeline.run import list_specs, run_pipeline

log = logging.getLogger("qseq.pipeline.serve")


@dataclass
class RunLog:
    """What the scheduler did: (pipeline, ok, message) per finished run."""

    runs: list[tuple[str, bool, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, ok: bool, message: str) -> None:
        with self.lock:
            self.runs.append((name, ok, message))


def run_scheduled(path: Path, out_root: Path, offline: bool, record: RunLog) -> bool:
    """One scheduled run. Never raises: a failure is logged and recorded."""
    name = path.stem
    try:
        outcome = run_pipeline(path, out_root=out_root, offline=offline)
    except Exception as exc:  # one pipeline's failure must not stop the others
        log.error("pipeline %s failed: %s: %s", name, type(exc).__name__, exc)
        record.add(name, False, f"{type(exc).__name__}: {exc}")
        return False
    log.info("pipeline %s finished: %s", name, outcome.run_dir)
    record.add(name, True, str(outcome.run_dir))
    return True


def build_scheduler(spec_dir: str | Path, out_root: str | Path, *, offline: bool = False,
                    now: bool = False, background: bool = False, record: RunLog | None = None):
    """A scheduler with one job per scheduled spec in ``spec_dir`` (specs without
    ``schedule.cron`` are skipped, invalid specs are reported and skipped). ``now`` also runs
    every scheduled spec once right away. Returns (scheduler, jobs, problems, record)."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    record = record or RunLog()
    scheduler = BackgroundScheduler() if background else BlockingScheduler()
    jobs, problems = [], []
    for path, spec, error in list_specs(spec_dir):
        if spec is None:
            problems.append(error)
            log.error("skipping %s", error)
            continue
        if spec.schedule.cron is None:
            continue
        trigger = CronTrigger.from_crontab(spec.schedule.cron, timezone=spec.schedule.timezone)
        args = [path, Path(out_root), offline, record]
        job = scheduler.add_job(run_scheduled, trigger, args=args, id=spec.name, name=spec.name,
                                max_instances=1, coalesce=True, misfire_grace_time=3600)
        jobs.append(job)
        if now:
            scheduler.add_job(run_scheduled, args=args, id=f"{spec.name}-now", name=f"{spec.name} (now)")
    if not jobs:
        raise ConfigError(f"no scheduled pipeline in {spec_dir} (add schedule.cron to a spec)")
    return scheduler, jobs, problems, record


def serve(spec_dir: str | Path, out_root: str | Path, *, offline: bool = False, now: bool = False) -> None:
    """Block, running every scheduled spec on its cron schedule, until interrupted."""
    scheduler, jobs, _, _ = build_scheduler(spec_dir, out_root, offline=offline, now=now)
    for job in jobs:
        log.info("scheduled %s: %s", job.name, job.trigger)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
