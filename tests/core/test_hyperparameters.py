"""Fine-tune hyper-parameters have one source: the trainer's FinetuneConfig
(nuner.core.hyperparameters); the job API and the CLI take its defaults."""

from __future__ import annotations

import pytest
from typer.main import get_command

from nuner.app.jobs.schemas import Hyperparameters
from nuner.cli import app
from nuner.core.hyperparameters import DEFAULTS

CLI_NAMES = {"lr": "learning_rate"}  # option name -> config field, where they differ


def test_the_job_api_defaults_are_the_trainers():
    api = Hyperparameters()
    assert api.model_dump() == {name: getattr(DEFAULTS, name) for name in api.model_dump()}
    # the defaults lie inside the API's own (narrower) ranges
    assert Hyperparameters.model_validate(api.model_dump(), strict=True) == api


@pytest.mark.parametrize("command", ["finetune", "evaluate", "create-tagger"])
def test_the_cli_defaults_are_the_trainers(command):
    options = {p.name: p.default for p in get_command(app).commands[command].params}
    shared = {
        CLI_NAMES.get(name, name): default
        for name, default in options.items()
        if CLI_NAMES.get(name, name) in DEFAULTS.model_fields
    }
    assert len(shared) >= 3
    assert shared == {name: getattr(DEFAULTS, name) for name in shared}


def test_the_head_job_defaults_are_the_head_fits():
    from nuner.app.jobs.schemas import HeadOptions
    from nuner.core.hyperparameters import HEAD_DEFAULTS

    assert HeadOptions().config() == HEAD_DEFAULTS
