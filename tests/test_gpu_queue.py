"""The machine-wide GPU queue: admission rules, and the queue folder under load."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from tutor.engine.gpu_queue import GIB, Gpu, GpuQueue, QueueError, Ticket, memory_cap, plan

TWO_GPUS = [Gpu(0, 16 * GIB, 16 * GIB), Gpu(1, 16 * GIB, 16 * GIB)]


def ticket(n: int, gib: float, gpus: int = 1, admitted=None) -> Ticket:
    return Ticket(id=f"{n:020d}-1", pid=1, create_time=None, need_bytes=int(gib * GIB), gpus=gpus, admitted=admitted)


def test_a_job_is_admitted_where_it_fits_after_the_reservations_already_made():
    tickets = [ticket(1, 10, admitted=(0,)), ticket(2, 10), ticket(3, 5)]
    decisions = plan(tickets, TWO_GPUS, slots=1).decisions
    assert decisions[ticket(2, 10).id].admit == (1,)  # GPU 0 has 6 GiB left, GPU 1 has 16
    assert decisions[ticket(3, 5).id].admit == (0,)  # 6 left on GPU 0 after 10 on it, 6 on GPU 1 after job 2


def test_a_job_that_does_not_fit_waits_with_its_position_and_reason():
    tickets = [ticket(1, 12, admitted=(0,)), ticket(2, 12, admitted=(1,)), ticket(3, 8), ticket(4, 8)]
    decisions = plan(tickets, TWO_GPUS, slots=1).decisions
    first, second = decisions[ticket(3, 8).id], decisions[ticket(4, 8).id]
    assert first.admit is None and first.position == 1 and "8.0 GiB free on a GPU" in first.reason
    assert "4.0 GiB on GPU 0" in first.reason
    assert second.admit is None and second.position == 2 and "earlier job of its size" in second.reason


def test_a_smaller_later_job_may_pass_a_bigger_one_but_never_one_of_its_size():
    tickets = [ticket(1, 12, admitted=(0,)), ticket(2, 12, admitted=(1,)), ticket(3, 8), ticket(4, 3), ticket(5, 9)]
    decisions = plan(tickets, TWO_GPUS, slots=1).decisions
    assert decisions[ticket(3, 8).id].admit is None
    assert decisions[ticket(4, 3).id].admit is not None  # 3 GiB fits in the 4 left on a GPU
    assert decisions[ticket(5, 9).id].admit is None  # an 8 GiB job that came first still waits


def test_a_job_bigger_than_any_gpu_says_so():
    decision = plan([ticket(1, 40)], TWO_GPUS, slots=1).decisions[ticket(1, 40).id]
    assert decision.admit is None and "more than a whole GPU" in decision.reason


def test_a_multi_gpu_job_takes_that_many_gpus_or_waits():
    decisions = plan([ticket(1, 8, gpus=2)], TWO_GPUS, slots=1).decisions
    assert decisions[ticket(1, 8, gpus=2).id].admit == (0, 1)
    decision = plan([ticket(1, 8, gpus=3)], TWO_GPUS, slots=1).decisions[ticket(1, 8, gpus=3).id]
    assert decision.admit is None and "needs 3 GPUs" in decision.reason


def test_cpu_jobs_take_slots_in_order():
    tickets = [ticket(1, 0, gpus=0, admitted=()), ticket(2, 0, gpus=0), ticket(3, 0, gpus=0)]
    decisions = plan(tickets, [], slots=2).decisions
    assert decisions[ticket(2, 0, gpus=0).id].admit == ()
    third = decisions[ticket(3, 0, gpus=0).id]
    assert third.admit is None and third.position == 1 and "2 CPU job slot(s)" in third.reason


def test_the_memory_cap_reads_sizes_and_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("QLORA_TUTOR_GPU_MEMORY_LIMIT", "16GiB")
    assert memory_cap() == 16 * GIB
    monkeypatch.setenv("QLORA_TUTOR_GPU_MEMORY_LIMIT", "20 GB")
    assert memory_cap() == 20 * 10**9
    monkeypatch.setenv("QLORA_TUTOR_GPU_MEMORY_LIMIT", "lots")
    with pytest.raises(QueueError, match="not a size"):
        memory_cap()


def test_the_folder_is_sticky_and_open_to_every_user(tmp_path):
    queue = GpuQueue(tmp_path / "queue", gpus=lambda: TWO_GPUS)
    queue.ensure()
    mode = (tmp_path / "queue").stat().st_mode
    assert mode & stat.S_ISVTX and mode & 0o777 == 0o777
    assert (tmp_path / "queue" / "lock").stat().st_mode & 0o777 == 0o666
    blocked = GpuQueue(tmp_path / "a-file", gpus=lambda: TWO_GPUS)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(QueueError, match="not a folder"):
        blocked.ensure()


@pytest.mark.parametrize("slow_view", [False, True], ids=["plain", "slow-view"])
def test_thirty_concurrent_jobs_on_two_gpus_never_over_admit_and_keep_order_per_size(tmp_path, monkeypatch,
                                                                                      slow_view):
    """`slow_view` makes the checker's reading of each ticket slow, as on a busy shared disk:
    a view read outside the admission lock then sees a job that left beside its successor."""
    import pathlib

    import tutor.engine.gpu_queue as gpu_queue

    viewing = threading.local()
    read_text = pathlib.Path.read_text

    def maybe_slow_read(path, *args, **kwargs):
        if slow_view and getattr(viewing, "on", False) and path.suffix == ".ticket":
            time.sleep(0.004)
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", maybe_slow_read)

    queue = GpuQueue(tmp_path / "queue", gpus=lambda: TWO_GPUS)
    sizes = [random.Random(n).choice([3, 5, 8]) for n in range(30)]
    admitted_order: list[tuple[str, int]] = []  # (ticket, GiB) the first time any round admits it
    real_plan = gpu_queue.plan

    def recording_plan(tickets, gpus, slots):
        result = real_plan(tickets, gpus, slots)
        seen = {i for i, _ in admitted_order}
        for t in sorted(tickets, key=lambda t: t.id):
            decision = result.decisions.get(t.id)
            if decision and decision.admit is not None and t.id not in seen:
                admitted_order.append((t.id, t.need_bytes // GIB))
        return result

    monkeypatch.setattr(gpu_queue, "plan", recording_plan)
    violations: list[str] = []
    lock = threading.Lock()

    def check_capacity() -> None:
        held = {0: 0, 1: 0}
        viewing.on = True
        try:
            tickets = queue.snapshot()
        finally:
            viewing.on = False
        for t in tickets:
            for index in t.admitted or ():
                held[index] += t.need_bytes
        if any(v > 16 * GIB for v in held.values()):
            violations.append(str(held))

    def submitter(n: int) -> None:
        mine = queue.join(sizes[n] * GIB)
        done = queue.wait(mine, poll_s=0.01)
        assert done is not None and done.admitted
        with lock:
            check_capacity()
        time.sleep(random.Random(n).uniform(0.005, 0.03))  # holds the GPU for a moment, as a job does
        queue.leave(done)

    threads = []
    for n in range(30):
        threads.append(threading.Thread(target=submitter, args=(n,)))
        threads[-1].start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not violations
    assert len(admitted_order) == 30 and queue.tickets() == []
    for size in set(sizes):
        ids = [i for i, s in admitted_order if s == size]
        assert ids == sorted(ids), f"jobs of {size} GiB admitted out of arrival order"


def test_a_killed_holder_frees_its_reservation_and_a_cancelled_waiter_leaves(tmp_path):
    folder = tmp_path / "queue"
    one_gpu = [Gpu(0, 16 * GIB, 16 * GIB)]
    holder_code = (
        "import sys, time\n"
        "from tutor.engine.gpu_queue import GpuQueue, Gpu, GIB\n"
        "q = GpuQueue(sys.argv[1], gpus=lambda: [Gpu(0, 16 * GIB, 16 * GIB)])\n"
        "t = q.wait(q.join(12 * GIB), poll_s=0.01)\n"
        "print('admitted', flush=True)\n"
        "time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", holder_code, str(folder)], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=os.getcwd()))
    try:
        assert holder.stdout.readline().strip() == "admitted"
        queue = GpuQueue(folder, gpus=lambda: one_gpu)
        waiter = queue.join(12 * GIB)
        _, decision = queue.decide(waiter)
        assert decision.admit is None and decision.position == 1

        cancelled = queue.join(12 * GIB)
        assert queue.wait(cancelled, should_stop=lambda: True) is None
        assert cancelled.id not in {t.id for t in queue.tickets()}

        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        started = time.monotonic()
        admitted = queue.wait(waiter, poll_s=0.05)
        assert admitted is not None and admitted.admitted == (0,)
        assert time.monotonic() - started < 2.0
    finally:
        holder.kill()
        holder.wait(timeout=10)
