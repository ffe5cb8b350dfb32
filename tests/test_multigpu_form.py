"""The lab-train form shows the multi-GPU fields only on a machine with several GPUs."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Switch

from conftest import wait_until
from fakes import FakeRunner
from lessons.panels.lab_train import LabTrainPanel
from tutor.ui.app import create_app
from tutor.ui.widgets import config_form

SIZE = (130, 60)


@pytest.mark.parametrize("gpus, shown", [(0, False), (1, False), (2, True)])
async def test_gpus_and_fsdp_fields_appear_only_with_several_gpus(monkeypatch, gpus, shown) -> None:
    monkeypatch.setattr(config_form, "machine_gpu_count", lambda: gpus)
    runner = FakeRunner()
    app = create_app(start_lesson="lab-train", runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(LabTrainPanel)
        assert bool(panel.query("#field-gpus")) == shown and bool(panel.query("#field-fsdp")) == shown
        if shown:
            panel.query_one("#field-gpus", Input).value = "2"
            panel.query_one("#field-fsdp", Switch).value = True
        panel.start_run(panel.query_one(config_form.ConfigForm).read())
        await wait_until(pilot, lambda: runner.started)
        config = runner.started[0][1]
        assert (config.gpus, config.fsdp) == ((2, True) if shown else (1, False))
