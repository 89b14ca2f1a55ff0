"""A soup: several fine-tunes from one start, their weights averaged into one tagger."""

import torch

import nuner.training.finetune as finetune_module
from nuner.core.hyperparameters import FinetuneConfig
from nuner.training.finetune import finetune
from tests.training.test_warm_start import dual_dir  # noqa: F401  (the fixture)

CONFIG = FinetuneConfig(epochs=2, batch_size=2, max_length=64)


def _floats(state: dict) -> dict:
    return {name: t.detach().clone() for name, t in state.items() if t.is_floating_point()}


def test_the_soup_averages_ingredients_trained_from_one_start(
    dual_dir,  # noqa: F811
    conll_sample,
    monkeypatch,
):
    """Each ingredient starts from the same weights and sees its own batch order; the
    tagger returned holds their mean, and its time is theirs together."""
    starts, ends = [], []
    train = finetune_module._train

    def recording(training, *args, **kwargs):
        starts.append(_floats(training.model.state_dict()))
        outcome = train(training, *args, **kwargs)
        ends.append(_floats(outcome.state))
        return outcome

    monkeypatch.setattr(finetune_module, "_train", recording)
    epochs = []
    config = CONFIG.model_copy(update={"soup": 3})
    result = finetune(
        str(dual_dir), conll_sample, config, show_progress=False, on_epoch=epochs.append
    )
    assert len(ends) == 3 and len(epochs) == 3 * CONFIG.epochs
    for start in starts[1:]:
        assert all(torch.equal(start[name], starts[0][name]) for name in start)
    head = next(n for n in ends[0] if n.startswith("head.") and n.endswith("weight"))
    assert not torch.allclose(ends[0][head], ends[1][head])
    souped = result.model.state_dict()
    for name in ends[0]:
        mean = torch.stack([end[name] for end in ends]).mean(dim=0)
        assert torch.allclose(souped[name], mean, atol=1e-7), name
