"""Jobs: training and generation run in a child process, in its own session.

PLACEHOLDER CONTRACT (the lab-engine helper fills this in). The UI and the CLI depend only on:

    class JobRunner(Protocol):
        def start(self, kind: str, config: "RunConfig", run_dir: Path | None = None) -> JobHandle

    class JobHandle:
        run_dir: Path; kind: str; pid: int
        def is_running(self) -> bool
        def cancel(self) -> None        # SIGINT (save + stop) -> SIGTERM -> SIGKILL, escalating
        def tail(self) -> EventTail     # a fresh tail from offset 0: replays the whole run

    def list_runs(root: Path | None = None) -> list[RunInfo]   # newest first
    def attach(run_dir: Path) -> JobHandle                    # re-attach to a run on disk
"""
