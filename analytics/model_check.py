"""A model file's first inference, in a child process bounded in memory and time (issue #17).

Loading a model does not run it (analytics.inference), but its first inference can ask for
any amount of memory (a ConstantOfShape of 2 GiB in a file of a few hundred bytes) or never
end (a Loop of 1e13 iterations), and onnxruntime cannot be interrupted inside a node. So
`check_model` runs `Model.from_bytes(...).smoke_test()` in `python -m analytics.model_check`:

- the child imports numpy and onnxruntime first, then limits its own address space to what
  it uses then plus `memory_mib` (RLIMIT_AS: an allocation beyond fails, it does not swap
  the box), lowers its priority so that polling keeps the CPU, caps its CPU time
  (RLIMIT_CPU: a backstop that ends it should the gateway die meanwhile), and says "ready";
- the parent then sends the file on stdin and waits `timeout_s` for the outcome, one JSON
  line, and kills the child when the time is up or when it is itself cancelled (SIGTERM).

A check costs one Python process: ~0.26 s of CPU (mostly importing numpy and onnxruntime)
and a peak of ~73 MiB resident while it lasts, measured on this 2-core development machine
(analytics/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import signal
import sys
from collections.abc import Sequence

from analytics.inference import Model, import_runtime
from analytics.model_file import CheckLimits, ModelError

# Starting Python and importing numpy and onnxruntime is not the model's time: it is
# bounded apart, generously (a small edge box under load).
START_TIMEOUT_S = 60.0
READY = b"ready\n"
# Below the gateway's own priority: polling and OPC UA keep the CPU while a model spins.
NICE = 10


async def check_model(data: bytes, source: str, limits: CheckLimits) -> None:
    """Load the model file `data` and run its smoke test in a bounded child process;
    ModelError with the reason, `source` naming the file in it, when it fails."""
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "analytics.model_check",
            "--memory-mib", str(limits.memory_mib),
            "--cpu-s", str(math.ceil(limits.timeout_s) + 1), "--", source,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise ModelError(f"{source}: cannot start the model check: {exc}") from exc
    try:
        await _ready(process, source)
        try:
            async with asyncio.timeout(limits.timeout_s):
                out, err = await process.communicate(data)
        except TimeoutError:
            raise ModelError(f"{source}: the model's test inference took longer than "
                             f"{limits.timeout_s:g} s") from None
    finally:
        if process.returncode is None:  # timed out, or cancelled: SIGTERM must not wait
            process.kill()
            await process.wait()
    _outcome(process.returncode, out, err, source, limits)


async def _ready(process: asyncio.subprocess.Process, source: str) -> None:
    stdout = process.stdout
    if stdout is None:  # for the type checker: it was opened as a pipe
        raise RuntimeError("the model check has no stdout pipe")
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            if await stdout.readline() == READY:
                return
            # Could not start (a broken installation): its stderr says why.
            _, err = await process.communicate()
    except TimeoutError:
        raise ModelError(f"{source}: the model check did not start within "
                         f"{START_TIMEOUT_S:g} s") from None
    raise ModelError(f"{source}: the model check could not start: {_last_line(err)}")


def _outcome(code: int | None, out: bytes, err: bytes, source: str, limits: CheckLimits) -> None:
    try:
        outcome = json.loads(out)
    except ValueError:
        outcome = None
    if code == 0 and isinstance(outcome, dict):
        if outcome.get("memory"):
            raise ModelError(f"{source}: the model's test inference needed more than "
                             f"{limits.memory_mib} MiB")
        if "refused" in outcome:
            raise ModelError(str(outcome["refused"]))
        return
    if code == -signal.SIGXCPU:
        raise ModelError(f"{source}: the model's test inference took longer than "
                         f"{limits.timeout_s:g} s of CPU")
    ended = f"signal {_signal_name(-code)}" if code and code < 0 else f"exit code {code}"
    raise ModelError(f"{source}: the model check ended with {ended}: {_last_line(err)}")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal has no name
        return str(number)


def _last_line(err: bytes) -> str:
    lines = err.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "nothing on stderr"


def _out_of_memory(exc: BaseException) -> bool:
    """Whether a failed check ran into the address-space limit: a MemoryError (numpy,
    Python) or onnxruntime's allocation failure, anywhere in the chain of causes."""
    current: BaseException | None = exc
    while current is not None:
        text = str(current)
        if (isinstance(current, MemoryError) or "Failed to allocate memory" in text
                or "bad_alloc" in text):
            return True
        current = current.__cause__
    return False


def _address_space() -> int:
    """Bytes of address space this process maps now (VmSize)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _limit(kind: int, soft: int, hard: int) -> None:
    """Lower a resource limit, never above a hard limit already set (a container's)."""
    _, current = resource.getrlimit(kind)
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(kind, (soft, hard))


def bound_self(memory_mib: int, cpu_s: int) -> None:
    """Bound this process, once its libraries are imported (their mappings are not the
    work's): address space to what it maps now plus `memory_mib`, CPU time to what it used
    plus `cpu_s`, and its priority below the gateway's. The model check and a training job
    from history (gateway.cli.history_training, issue #12) run under it."""
    memory = _address_space() + memory_mib * 2**20
    _limit(resource.RLIMIT_AS, memory, memory)
    cpu = math.ceil(sum(resource.getrusage(resource.RUSAGE_SELF)[:2])) + cpu_s
    _limit(resource.RLIMIT_CPU, cpu, cpu + 1)  # SIGXCPU at the first, SIGKILL after
    os.nice(NICE)


def main(argv: Sequence[str] | None = None) -> int:
    """The child: limits itself, says ready, checks the file on stdin, writes the outcome."""
    parser = argparse.ArgumentParser(prog="python -m analytics.model_check")
    parser.add_argument("source", help="the file's name in messages")
    parser.add_argument("--memory-mib", type=int, required=True)
    parser.add_argument("--cpu-s", type=int, required=True)
    args = parser.parse_args(argv)
    import_runtime()  # before the limit: onnxruntime's own mappings are not the model's
    bound_self(args.memory_mib, args.cpu_s)
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()
    outcome: dict[str, object] = {"ok": True}
    try:
        Model.from_bytes(sys.stdin.buffer.read(), args.source).smoke_test()
    except ModelError as exc:
        outcome = {"memory": True} if _out_of_memory(exc) else {"refused": str(exc)}
    except MemoryError:
        outcome = {"memory": True}
    sys.stdout.write(json.dumps(outcome) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
