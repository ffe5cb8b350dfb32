"""`doctor` on a machine without a GPU: warnings, never a failure; exit 1 only on FAIL."""

from __future__ import annotations

import pytest

from tutor.cli import main
from tutor.engine import doctor
from tutor.engine.doctor import FAIL, OK, WARN, Check


@pytest.fixture
def no_gpu(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_no_gpu_is_a_warning_not_a_failure(no_gpu):
    checks = {check.name: check for check in doctor.iter_checks()}
    assert checks["Python"].status == OK
    assert checks["GPU"].status == WARN and checks["GPU"].hint
    assert checks["bitsandbytes"].status == WARN
    assert {"transformers", "peft", "trl", "accelerate", "datasets", "HF cache"} <= set(checks)
    assert checks["liger-kernel"].status == OK  # optional, and only of use on a GPU
    assert doctor.exit_code(list(checks.values())) == 0


def test_a_gpu_without_liger_is_told_how_to_get_it(monkeypatch):
    torch = pytest.importorskip("torch")
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check = doctor.check_liger()
    assert check.status == WARN and check.hint == "pip install liger-kernel"


def test_cli_doctor_prints_one_line_per_check_and_exits_0_without_gpu(no_gpu, capsys):
    assert main(["doctor"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(doctor.all_checks())
    assert all(line.split()[0] in (OK, WARN, FAIL) for line in lines)
    assert any(line.startswith("WARN GPU") for line in lines)


def test_a_failing_check_makes_exit_code_1(monkeypatch, capsys):
    failing = Check("Python", FAIL, "2.7", "upgrade")
    monkeypatch.setattr(doctor, "all_checks", lambda: [("Python", lambda: failing)])
    assert main(["doctor"]) == 1
    assert "FAIL Python" in capsys.readouterr().out


def test_a_crashing_check_is_reported_not_raised(monkeypatch):
    def broken() -> Check:
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(doctor, "all_checks", lambda: [("GPU", broken)])
    [check] = doctor.iter_checks()
    assert check.status == FAIL and "driver exploded" in check.detail


def test_offline_mode_is_reported(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "offline" in doctor.check_hf_cache().detail
