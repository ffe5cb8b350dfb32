"""One queue for the whole machine: every lab job asks here before it touches a GPU.

In a workshop twenty learners press Ctrl+R at once on one box. Without a queue the later
jobs die out of memory; with it, a job declares the peak it expects, is admitted to a GPU
whose memory still has room after the reservations of the jobs already admitted, and
otherwise waits, in order, knowing its place and what it waits for.

The queue is a folder shared by every user of the machine (`QLORA_TUTOR_QUEUE`, default
`/tmp/qlora-tutor-queue`): one ticket file per job, rewritten atomically by its owner, and
a lock file that serialises admission decisions. The folder is created sticky and
world-writable like /tmp, so any learner can queue and none can remove another's ticket.
A ticket whose process has died no longer counts, so a killed job frees its reservation
at the next decision. A machine without a GPU has job slots instead of memory
(`QLORA_TUTOR_CPU_SLOTS`, default one per two cores), so thirty tiny runs take turns
instead of thrashing two cores. `QLORA_TUTOR_GPU_MEMORY_LIMIT` (bytes, or with a GB /
GiB suffix) makes each GPU count as that size: for tests, and for instructors who want to
leave room.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import psutil

from tutor.engine.errors import LabError

ENV_QUEUE = "QLORA_TUTOR_QUEUE"
ENV_GPU_LIMIT = "QLORA_TUTOR_GPU_MEMORY_LIMIT"
ENV_CPU_SLOTS = "QLORA_TUTOR_CPU_SLOTS"
DEFAULT_QUEUE = Path("/tmp/qlora-tutor-queue")
FOLDER_MODE = 0o1777  # sticky: everyone may add a ticket, only its owner may remove it
POLL_S = 0.5
GIB = 1024**3
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(gib|gb|mib|mb|)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "mb": 10**6, "mib": 1024**2, "gb": 10**9, "gib": GIB}


class QueueError(LabError):
    """The queue cannot be used (its folder, or a setting); the message says why."""

    hint = f"Fix the folder or setting named, or point {ENV_QUEUE} at a folder you can write."


@dataclass(frozen=True)
class Gpu:
    index: int
    total: int  # bytes the queue may hand out on this GPU (the cap, if one is set)
    free: int  # bytes free right now, as the driver reports them


@dataclass(frozen=True)
class Ticket:
    """One job's place in the queue, as its ticket file holds it."""

    id: str  # "<arrival ns>-<pid>": sorts in arrival order
    pid: int
    create_time: float | None  # the process's start time, so a reused pid is not mistaken for it
    need_bytes: int
    gpus: int = 1  # how many GPUs the job needs (0: a CPU job, which takes a slot)
    label: str = ""  # what the instructor's view shows: learner, run folder
    user: str = ""
    admitted: tuple[int, ...] | None = None  # GPU indices once admitted; () for a CPU slot
    admitted_at: float | None = None

    @property
    def waiting(self) -> bool:
        return self.admitted is None


@dataclass(frozen=True)
class Decision:
    """What the queue says of one waiting ticket this round."""

    admit: tuple[int, ...] | None  # GPUs to run on (empty for a CPU slot), or None: wait
    position: int = 0  # 1 = next in line
    reason: str = ""  # what it waits for, in words


@dataclass
class Plan:
    decisions: dict[str, Decision] = field(default_factory=dict)


def memory_cap() -> int | None:
    """`QLORA_TUTOR_GPU_MEMORY_LIMIT` in bytes, or None; a bad value is a QueueError."""
    text = os.environ.get(ENV_GPU_LIMIT, "").strip()
    if not text:
        return None
    match = _SIZE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise QueueError(f"{ENV_GPU_LIMIT}={text!r} is not a size: use bytes, or a number with GB or GiB (16GiB)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def cpu_slots() -> int:
    text = os.environ.get(ENV_CPU_SLOTS, "").strip()
    if not text:
        return max(1, (os.cpu_count() or 2) // 2)
    if not text.isdigit() or int(text) < 1:
        raise QueueError(f"{ENV_CPU_SLOTS}={text!r} must be a whole number of at least 1")
    return int(text)


def fmt_gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def plan(tickets: list[Ticket], gpus: list[Gpu], slots: int) -> Plan:
    """Decide every waiting ticket, in arrival order. Pure: the tests drive it directly.

    A waiting job is admitted when it fits after the reservations of jobs already admitted
    (and of jobs admitted earlier in this same round). A later job may pass an earlier one
    that is bigger and does not fit yet, but never one of its own size or smaller: order
    holds within a size.
    """
    result = Plan()
    reserved = {gpu.index: 0 for gpu in gpus}
    slots_used = 0
    for ticket in tickets:
        if ticket.admitted is None:
            continue
        slots_used += ticket.gpus == 0
        for index in ticket.admitted:
            if index in reserved:
                reserved[index] += ticket.need_bytes
    blocked_sizes: list[int] = []  # needs of earlier waiting jobs that stay waiting
    position = 0
    for ticket in sorted((t for t in tickets if t.waiting), key=lambda t: t.id):
        position += 1
        if any(size <= ticket.need_bytes for size in blocked_sizes):
            result.decisions[ticket.id] = Decision(None, position, "an earlier job of its size is still waiting")
            blocked_sizes.append(ticket.need_bytes)
            continue
        if ticket.gpus == 0:
            if slots_used < slots:
                slots_used += 1
                result.decisions[ticket.id] = Decision(())
                position -= 1
            else:
                result.decisions[ticket.id] = Decision(None, position, f"all {slots} CPU job slot(s) are taken")
                blocked_sizes.append(ticket.need_bytes)
            continue
        chosen = _fit(ticket, gpus, reserved)
        if chosen is None:
            result.decisions[ticket.id] = Decision(None, position, _why_not(ticket, gpus, reserved))
            blocked_sizes.append(ticket.need_bytes)
            continue
        for index in chosen:
            reserved[index] += ticket.need_bytes
        result.decisions[ticket.id] = Decision(tuple(chosen))
        position -= 1
    return result


def _room(gpu: Gpu, reserved: dict[int, int]) -> int:
    return min(gpu.total - reserved[gpu.index], gpu.free)


def _fit(ticket: Ticket, gpus: list[Gpu], reserved: dict[int, int]) -> list[int] | None:
    fitting = sorted((g for g in gpus if _room(g, reserved) >= ticket.need_bytes),
                     key=lambda g: (-_room(g, reserved), g.index))
    if len(fitting) < ticket.gpus:
        return None
    return sorted(g.index for g in fitting[: ticket.gpus])


def _why_not(ticket: Ticket, gpus: list[Gpu], reserved: dict[int, int]) -> str:
    if not gpus:
        return "this machine has no GPU"
    if len(gpus) < ticket.gpus:
        return f"it needs {ticket.gpus} GPUs and this machine has {len(gpus)}"
    biggest = max(gpus, key=lambda g: _room(g, reserved))
    if ticket.need_bytes > biggest.total:
        return f"it needs {fmt_gib(ticket.need_bytes)}, more than a whole GPU ({fmt_gib(biggest.total)})"
    return (f"{fmt_gib(ticket.need_bytes)} free on a GPU (most free now: "
            f"{fmt_gib(max(0, _room(biggest, reserved)))} on GPU {biggest.index})")


def visible_gpus(cap: int | None = None) -> list[Gpu]:
    """The GPUs this process may use, from the driver, without creating a CUDA context
    (which would pin the process to every GPU before CUDA_VISIBLE_DEVICES is set)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,memory.total,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    allowed = os.environ.get("CUDA_VISIBLE_DEVICES")
    allowed_set = {p.strip() for p in allowed.split(",")} if allowed is not None else None
    gpus = []
    for line in out.strip().splitlines():
        try:
            index, total, free = (int(part.strip()) for part in line.split(","))
        except ValueError:
            continue
        if allowed_set is not None and str(index) not in allowed_set:
            continue
        total_b, free_b = total * 1024**2, free * 1024**2
        if cap is not None:
            free_b = min(free_b, cap)
            total_b = min(total_b, cap)
        gpus.append(Gpu(index, total_b, free_b))
    return gpus


def _alive(ticket: Ticket) -> bool:
    try:
        process = psutil.Process(ticket.pid)
        if ticket.create_time is not None and abs(process.create_time() - ticket.create_time) > 1.0:
            return False
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # another user's live process: we may not look, but it exists


class GpuQueue:
    """The queue folder. `gpus` and `slots` are injectable so tests can simulate a machine."""

    def __init__(self, folder: Path | None = None, gpus: Callable[[], list[Gpu]] | None = None,
                 slots: int | None = None) -> None:
        self.folder = Path(folder or os.environ.get(ENV_QUEUE) or DEFAULT_QUEUE).expanduser()
        self._gpus = gpus or (lambda: visible_gpus(memory_cap()))
        self.slots = slots if slots is not None else cpu_slots()

    # -- the folder ---------------------------------------------------------------------------
    def ensure(self) -> None:
        try:
            if not self.folder.exists():
                old = os.umask(0)
                try:
                    self.folder.mkdir(parents=True, mode=FOLDER_MODE, exist_ok=True)
                finally:
                    os.umask(old)
            if not self.folder.is_dir():
                raise QueueError(f"the GPU queue path {self.folder} is not a folder: set {ENV_QUEUE} to a folder")
            lock = self.folder / "lock"
            if not lock.exists():
                fd = os.open(lock, os.O_CREAT | os.O_WRONLY, 0o666)
                os.fchmod(fd, 0o666)
                os.close(fd)
            if not os.access(self.folder, os.W_OK) or not os.access(lock, os.W_OK):
                raise PermissionError
        except PermissionError:
            raise QueueError(f"cannot write to the GPU queue folder {self.folder}: ask the instructor to run "
                             f"`chmod 1777 {self.folder}`, or set {ENV_QUEUE} to a folder you can write") from None
        except OSError as exc:
            raise QueueError(f"cannot use the GPU queue folder {self.folder}: {exc.strerror or exc}") from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.ensure()
        with open(self.folder / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _path(self, ticket_id: str) -> Path:
        return self.folder / f"{ticket_id}.ticket"

    def _write(self, ticket: Ticket) -> None:
        data = asdict(ticket)
        temporary = self.folder / f".{ticket.id}.tmp"
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.chmod(temporary, 0o644)
        os.replace(temporary, self._path(ticket.id))

    def tickets(self, include_dead: bool = False) -> list[Ticket]:
        """Every ticket in arrival order; unreadable files are skipped, dead owners dropped."""
        found = []
        for path in sorted(self.folder.glob("*.ticket")) if self.folder.is_dir() else []:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                admitted = data.get("admitted")
                ticket = Ticket(**{**data, "admitted": tuple(admitted) if admitted is not None else None})
            except (OSError, ValueError, TypeError):
                continue
            if include_dead or _alive(ticket):
                found.append(ticket)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()  # the owner died: its reservation ends here (others' need the owner)
        return found

    def snapshot(self) -> list[Ticket]:
        """Every live ticket as of one moment, read under the admission lock. An unlocked read
        takes a while over many files and can see a job that just left beside the job admitted
        in its place: one GPU held twice over, in a view that should show the queue's state."""
        if not self.folder.is_dir():
            return []
        with self._locked():
            return self.tickets()

    # -- a job's side ---------------------------------------------------------------------------
    def join(self, need_bytes: int, gpus: int = 1, label: str = "", pid: int | None = None) -> Ticket:
        pid = pid or os.getpid()
        try:
            create_time = psutil.Process(pid).create_time()
        except psutil.Error:
            create_time = None
        with self._locked():  # the id is taken under the lock, so id order is arrival order
            ticket = Ticket(id=f"{time.time_ns():020d}-{pid}", pid=pid, create_time=create_time,
                            need_bytes=int(need_bytes), gpus=gpus, label=label, user=_user())
            self._write(ticket)
        return ticket

    def decide(self, ticket: Ticket) -> tuple[Ticket, Decision]:
        """One admission round for `ticket`: admitted (ticket rewritten) or where it waits."""
        with self._locked():
            tickets = self.tickets()
            if not any(t.id == ticket.id for t in tickets):
                self._write(ticket)  # someone removed it (or its file was lost): take the place again
                tickets = self.tickets()
            gpus = self._gpus() if ticket.gpus else []
            decision = plan(tickets, gpus, self.slots).decisions.get(ticket.id, Decision(None, 1, ""))
            if decision.admit is not None:
                ticket = replace(ticket, admitted=decision.admit, admitted_at=time.time())
                self._write(ticket)
            return ticket, decision

    def wait(self, ticket: Ticket, on_wait: Callable[[Decision], None] = lambda d: None,
             should_stop: Callable[[], bool] = lambda: False, poll_s: float = POLL_S) -> Ticket | None:
        """Block until admitted (returns the admitted ticket) or `should_stop` (returns None,
        ticket removed). `on_wait` hears each change of position or reason."""
        last = None
        while True:
            ticket, decision = self.decide(ticket)
            if decision.admit is not None:
                return ticket
            if (decision.position, decision.reason) != last:
                on_wait(decision)
                last = (decision.position, decision.reason)
            if should_stop():
                self.leave(ticket)
                return None
            time.sleep(poll_s)

    def leave(self, ticket: Ticket) -> None:
        with contextlib.suppress(OSError):
            self._path(ticket.id).unlink()


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())
