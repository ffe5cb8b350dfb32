"""The run-event contract: typed events checked on write and on read, one status, one description."""

from __future__ import annotations

import json
import logging

import pytest

from fakes import MODEL, progress
from tutor.engine.events import (
    EVENTS_FILE, EventTail, EventWriter, RunStatus, describe, exit_code, invalid, read_all, status_of,
)


def test_writer_refuses_an_event_that_breaks_its_type(tmp_path) -> None:
    writer = EventWriter(tmp_path)
    with pytest.raises(ValueError, match="unknown event type 'progres'"):
        writer.emit("progres", step=1)
    with pytest.raises(ValueError, match="end event with status='done'"):
        writer.emit("end", status="done")
    with pytest.raises(ValueError, match="progress event without epoch"):
        writer.emit("progress", step=1, total_steps=2)
    writer.emit("phase", phase="loading")  # message is optional
    writer.close()
    assert [e["type"] for e in read_all(tmp_path)] == ["phase"]


def test_reader_skips_valid_json_that_is_no_event_with_a_warning(tmp_path, caplog) -> None:
    lines = [
        {"type": "phase", "t": 1.0, "phase": "loading"},
        {"type": "progress", "t": 2.0, "step": "three"},  # valid JSON, not a valid event
        [1, 2],
        {"type": "end", "t": 3.0, "status": "finished"},
    ]
    (tmp_path / EVENTS_FILE).write_text("".join(json.dumps(line) + "\n" for line in lines) + "{not json\n")
    with caplog.at_level(logging.WARNING, logger="tutor.engine.events"):
        events = read_all(tmp_path)
    assert [e["type"] for e in events] == ["phase", "end"]
    assert len(caplog.records) == 3 and "progress event without" in caplog.records[0].getMessage()


def test_a_torn_last_line_waits_for_the_next_read(tmp_path) -> None:
    path = tmp_path / EVENTS_FILE
    line = json.dumps({"type": "warning", "t": 1.0, "message": "hot"}) + "\n"
    path.write_text(line[:10])
    tail = EventTail(path)
    assert tail.read() == []
    path.write_text(line)
    assert [e["message"] for e in tail.read()] == ["hot"]


def test_status_comes_from_the_end_event_or_from_the_process() -> None:
    started = [{"type": "phase", "t": 1.0, "phase": "loading"}]
    assert status_of(started, alive=True) is RunStatus.RUNNING
    assert status_of(started, alive=False) is RunStatus.LOST
    ended = started + [{"type": "end", "t": 2.0, "status": "cancelled"}]
    assert status_of(ended, alive=True) is RunStatus.CANCELLED
    assert RunStatus.CANCELLED == "cancelled" and f"{RunStatus.LOST:>5}" == " lost"
    assert [exit_code(s) for s in RunStatus] == [1, 0, 130, 1, 1]


def test_describe_says_each_event_in_one_line() -> None:
    assert describe({"type": "model", "t": 1.0, **MODEL}) == \
        "model tiny (teaching model): 1,234,567 params, 976.56 KiB on cpu, 4-bit"
    assert describe({"type": "progress", "t": 1.0, **progress(2, 8, 0.5)}) == \
        "step 2/8  epoch 1.00  step loss 2.7075  lr 2.00e-04  1500 tok/s  eta 3s"
    assert describe({"type": "error", "t": 1.0, "error_type": "DatasetError", "message": "no column 'x'",
                     "hint": "Set text_column."}) == "error (DatasetError): no column 'x'\nhint: Set text_column."
    summary = {"type": "summary", "t": 1.0, "global_step": 3, "train_loss": 2.5, "train_runtime": 75.0,
               "epoch": 1.5, "adapter_dir": "/r/adapter", "cancelled": True}
    assert describe(summary) == ("cancelled after 3 steps, mean train loss 2.5000, 1m 15s; adapter saved to /r/adapter "
                                 "(the adapter holds what was trained so far)")
    assert describe({"type": "token", "t": 1.0, "stream": "base", "text": "Hi"}) is None
    assert invalid(summary) is None and invalid({"type": "token", "t": 1.0, "stream": "other", "text": ""})
