"""The instructor's view as Rich renderables: learners, then the GPU queue."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from tutor.engine.classroom import Room
from tutor.units import human_bytes


def room_view(room: Room) -> Group:
    learners = Table("Learner", "Lessons", "Quizzes", "Exercises", "Now in", "Runs", title=f"Class in {room.root}",
                     title_justify="left", expand=True)
    for row in room.learners:
        runs = [f"[green]running[/] {name}" for name in row.running] + [f"[yellow]queued[/] {q}" for q in row.queued]
        learners.add_row(row.name, f"{row.lessons_done}/{row.lessons_total}",
                         " ".join(f"{slug} {score}" for slug, score in row.quiz_scores.items()) or "-",
                         str(row.exercises_passed), row.current_lesson or "-",
                         "\n".join(runs) or (f"[red]{row.note}[/]" if row.note else "-"))
    if not room.learners:
        learners.add_row("[dim]nobody yet[/]", "", "", "", "", "")
    queue = Table("Ticket", "Who", "Needs", "Where", title="GPU queue", title_justify="left", expand=True)
    for ticket in room.tickets:
        where = ("CPU slot" if ticket.gpus == 0 else "GPU " + ",".join(map(str, ticket.admitted))) \
            if ticket.admitted is not None else "[yellow]waiting[/]"
        queue.add_row(ticket.id[-12:], f"{ticket.user}: {ticket.label}", human_bytes(ticket.need_bytes), where)
    gpus = Table("GPU", "Queue may use", "Free now", title="GPUs", title_justify="left")
    for gpu in room.gpus:
        gpus.add_row(str(gpu.index), human_bytes(gpu.total), human_bytes(gpu.free))
    if not room.gpus:
        gpus.add_row("-", f"no GPU: {room.cpu_slots} CPU job slot(s)", "")
    return Group(learners, queue, gpus)
