"""Training jobs from history while the gateway runs (issue #12): one at a time, the others
queued, each `uvelka train ... --history` in a child process.

The child is the CLI command itself (gateway.cli.history_training) with `--progress-json`:
it bounds its own memory and CPU time and lowers its priority once its libraries are
imported (analytics.model_check.bound_self, as issue #17's model check does), and writes
each stage as a JSON line, which the job shows. Nothing of training runs in the gateway's
process: its event loop only reads the child's lines.

A job's state is kept in `<data_dir>/training/jobs.json`, written whole and atomically on
each change of state (not of progress); a job that cannot be written there (a full disk)
is refused (`JobsNotSaved`). A job the child ends without a result (SIGKILL, out of
memory, an error) is failed with the reason; a cancelled one is cancelled; a job that was
queued or running when the gateway stopped is `interrupted` at the next start.

The child's model file is handed to `store` (the gateway's: the model archive keeps it as
a candidate, never active); a store that fails (the disk full while the candidate is
written) fails the job with its reason, and the archive keeps what it held. The job's
folder is deleted once the job ends: the archive holds the candidate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from gateway.core.files import write_atomically
from gateway.page.model_manager import ModelManager, ModelRequestError

logger = logging.getLogger(__name__)

JOBS_FILE = "jobs.json"
MEMORY_MIB = 1536  # beyond what the child maps once its libraries are imported
CPU_S = 3600  # a backstop: the child ends should the gateway die meanwhile
KILL_WAIT_S = 5.0  # after SIGTERM, before SIGKILL

State = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
FINISHED = ("done", "failed", "cancelled", "interrupted")


class JobsNotSaved(Exception):
    """The jobs file cannot be written (a full disk): the job was not queued."""


class JobFinished(Exception):
    """The job has ended already: there is nothing to cancel."""


class CandidateNotStored(Exception):
    """`store` could not keep the trained model; str(exc) says why, for the page."""


# What becomes of a done job's model file (`job.result["out"]`): the fields it adds to the
# result (the archived version). Raises CandidateNotStored.
Store = Callable[["Job"], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What to train: an asset's `kind` model from its inputs over [start, end) (ISO 8601;
    empty: from the oldest history, to the newest); `labels`: the supervised recipe."""

    asset: str
    kind: Literal["anomaly", "rul"]
    inputs: dict[str, str]
    interval_s: float
    start: str
    end: str
    labels: bool = False


@dataclass(frozen=True, slots=True)
class Job:
    """A job and where it is: its stage and fraction done, the reason it failed, and the
    child's result (the candidate's file, range, figures) when done."""

    id: int
    request: JobRequest
    user: str
    created: str
    state: State = "queued"
    stage: str = ""
    fraction: float = 0.0
    reason: str = ""
    result: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class TrainingJobs:
    """The jobs of one data_dir; `run()` works the queue (a task of the gateway's)."""

    def __init__(
        self,
        folder: Path,
        data_dir: Path,
        store: Store | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.folder = folder
        self._data_dir = data_dir
        self._store = store
        self._clock = clock
        self._jobs: dict[int, Job] = {}
        self._wake = asyncio.Event()
        self._running: tuple[int, asyncio.subprocess.Process] | None = None
        self._cancelled: set[int] = set()

    @classmethod
    def open(cls, folder: Path, data_dir: Path, **options: Any) -> TrainingJobs:
        """The jobs kept in `folder`; those queued or running before are interrupted. A
        file that cannot be read is set aside (never deleted) and the list starts empty;
        one that cannot be written is logged: the gateway starts all the same (issue #17)."""
        jobs = cls(folder, data_dir, **options)
        path = folder / JOBS_FILE
        try:
            for raw in json.loads(path.read_text(encoding="utf-8")):
                job = Job(**{**raw, "request": JobRequest(**raw["request"])})
                if job.state not in FINISHED:
                    job = replace(
                        job,
                        state="interrupted",
                        reason="the gateway stopped while the job was " + job.state,
                    )
                jobs._jobs[job.id] = job
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, KeyError) as exc:
            aside = path.with_name(JOBS_FILE + ".damaged")
            with contextlib.suppress(OSError):
                path.replace(aside)
            logger.warning(
                "cannot read the training jobs %s (%s): set aside as %s", path, exc, aside
            )
            jobs._jobs.clear()
        if jobs._jobs:
            jobs._set(jobs.jobs()[0])  # the interrupted ones saved
        return jobs

    def jobs(self) -> Sequence[Job]:
        return sorted(self._jobs.values(), key=lambda job: job.id, reverse=True)

    def get(self, number: int) -> Job:
        return self._jobs[number]

    def submit(self, request: JobRequest, user: str) -> Job:
        """Queue a job; JobsNotSaved (nothing queued) when the jobs file cannot be written."""
        number = max(self._jobs, default=0) + 1
        job = Job(number, request, user, self._clock().isoformat())
        self._jobs[number] = job
        try:
            self._save()
        except OSError as exc:
            del self._jobs[number]
            raise JobsNotSaved(f"the training job cannot be kept in {self.folder}: {exc}") from None
        self._wake.set()
        return job

    def cancel(self, number: int) -> Job:
        """Cancel a queued job, or end a running one's child (SIGTERM, then SIGKILL).
        KeyError for an unknown job, JobFinished for one that has ended."""
        job = self._jobs[number]
        if job.state in FINISHED:
            raise JobFinished(f"job {number} has ended already ({job.state})")
        if job.state == "queued":
            self._set(replace(job, state="cancelled", reason="cancelled before it ran"))
        elif self._running is not None and self._running[0] == number:
            self._cancelled.add(number)
            self._running[1].terminate()
        return self._jobs[number]

    def child_pid(self) -> int | None:
        """The running job's child process, if any."""
        return None if self._running is None else self._running[1].pid

    async def run(self) -> None:
        while True:
            queued = [job for job in self.jobs()[::-1] if job.state == "queued"]
            if not queued:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._work(queued[0])

    async def _work(self, job: Job) -> None:
        job = self._set(replace(job, state="running", stage="starting"))
        out = self.folder / f"job-{job.id}" / f"{job.request.asset}-{job.request.kind}.onnx"
        try:
            job = await self._trained(job, out)
            if job.state == "done" and self._store is not None:
                job = await self._stored(job)
        finally:
            # Without a store the file is the result: kept.
            if self._store is not None or job.state != "done":
                await asyncio.to_thread(shutil.rmtree, out.parent, ignore_errors=True)
        self._set(job)
        logger.info(
            "training job %d (%s %s): %s %s",
            job.id,
            job.request.asset,
            job.request.kind,
            job.state,
            job.reason,
        )

    async def _stored(self, job: Job) -> Job:
        # Running still: done once its candidate is stored.
        job = self._set(replace(job, state="running", stage="storing the candidate", fraction=0.0))
        assert self._store is not None  # noqa: S101 - the caller's condition
        try:
            found = await self._store(job)
        except CandidateNotStored as exc:
            return replace(job, state="failed", reason=f"the candidate was not stored: {exc}")
        kept = {key: value for key, value in job.result.items() if key != "out"}
        return replace(job, state="done", stage="done", fraction=1.0, result={**kept, **found})

    async def _trained(self, job: Job, out: Path) -> Job:
        """The job as the child left it: done with its result, failed, or cancelled."""
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return replace(job, state="failed", reason=f"cannot create {out.parent}: {exc}")
        process = await asyncio.create_subprocess_exec(
            *self._command(job.request, out),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self._running = (job.id, process)
        result: dict[str, Any] = {}
        try:
            if process.stdout is None or process.stderr is None:  # opened as pipes
                raise RuntimeError("the training process has no pipes")
            errors = asyncio.ensure_future(process.stderr.read())
            async for line in process.stdout:
                try:
                    found = json.loads(line)
                except ValueError:  # a library's own print: not ours to show
                    logger.debug("training job %d: %r", job.id, line)
                    continue
                if "result" in found:
                    result = found["result"]
                else:  # progress: kept in memory only, the page polls it
                    job = self._jobs[job.id] = replace(
                        self._jobs[job.id], stage=found["stage"], fraction=found["fraction"]
                    )
            code = await process.wait()
            err = (await errors).decode("utf-8", "replace").strip().splitlines()
        finally:
            if process.returncode is None:  # the gateway is stopping: do not leave it behind
                process.kill()
                await process.wait()
            self._running = None
        job = self._jobs[job.id]
        if job.id in self._cancelled:
            return replace(job, state="cancelled", reason="cancelled while it ran")
        if code == 0 and result:
            return replace(job, state="done", stage="done", fraction=1.0, result=result)
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            return replace(
                job,
                state="failed",
                reason=f"the training process was ended by {name}"
                + (" (out of memory, or killed)" if name == "SIGKILL" else ""),
            )
        return replace(job, state="failed", reason=err[-1] if err else f"exit code {code}")

    def _command(self, request: JobRequest, out: Path) -> list[str]:
        inputs = ",".join(f"{name}={key}" for name, key in request.inputs.items())
        return [
            sys.executable,
            "-m",
            "gateway",
            "train",
            request.kind,
            "--history",
            str(self._data_dir),
            "--asset",
            request.asset,
            "--inputs",
            inputs,
            "--interval",
            str(request.interval_s),
            *(["--from", request.start] if request.start else []),
            *(["--to", request.end] if request.end else []),
            "--out",
            str(out),
            "--progress-json",
            "--memory-mib",
            str(MEMORY_MIB),
            "--cpu-s",
            str(CPU_S),
            *(["--labels"] if request.labels else []),
        ]

    def _set(self, job: Job) -> Job:
        """The job's new state, saved; kept in memory alone while the disk refuses (the
        next change saves it all)."""
        self._jobs[job.id] = job
        try:
            self._save()
        except OSError as exc:
            logger.warning(
                "training job %d is %s; the jobs file cannot be written: %s", job.id, job.state, exc
            )
        return job

    def _save(self) -> None:
        text = json.dumps([job.to_json() for job in self.jobs()], indent=1)
        write_atomically(self.folder / JOBS_FILE, text.encode("utf-8"))


def archived_as_candidate(models: ModelManager) -> Store:
    """The gateway's store: a job's model archived as a candidate of its asset's model,
    checked as an upload is and never put in place (gateway.page.model_manager)."""

    async def store(job: Job) -> dict[str, Any]:
        request = job.request
        try:
            data = await asyncio.to_thread(Path(job.result["out"]).read_bytes)
            outcome = await models.upload(request.asset, request.kind, data, job.user, "candidate")
        except (ModelRequestError, OSError) as exc:
            raise CandidateNotStored(str(exc)) from None
        if outcome.reason is not None:
            raise CandidateNotStored(outcome.reason)
        return {"version": outcome.version}

    return store
