"""Shared fixtures: the real datasets, the packaged MiniLM tokenizer, and tiny
random BERT / RoBERTa models built locally (nothing is downloaded)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("NUNER_DATASETS_DIR", ROOT.parent / "shared" / "datasets"))
FIXTURES = Path(__file__).parent / "fixtures"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# servers started by tests (in process and as subprocesses) do not build the
# 5-minute starter encoder on their fresh homes; tests/app/test_starter.py does
os.environ.setdefault("NUNER_STARTER_ENCODER", "false")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(base: str, timeout: float = 60.0) -> bool:
    """Poll a real server's /readyz until it answers 200; False on timeout."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def dataset_path(name: str, split: str = "train") -> Path:
    """A shared dataset file; missing data fails the test rather than skipping it quietly."""
    path = DATASETS / name / f"{split}.jsonl"
    if not path.is_file():
        pytest.fail(f"shared dataset {path} not found: set NUNER_DATASETS_DIR")
    return path


@pytest.fixture(scope="session")
def conll_sample():
    """k~2k with k=3 from CoNLL-2003 train: enough for a tiny tagger to learn."""
    from nuner.core.datasets import read_jsonl
    from nuner.training.sampling import sample_k_2k

    return sample_k_2k(read_jsonl(dataset_path("conll2003", "train")), 3, seed=0)


def tiny_finetune_config(**overrides):
    """What makes a tiny random backbone fit a few sentences: 25 epochs at a high rate,
    its sub-word embeddings trained (random ones are nothing to keep as pre-trained)."""
    from nuner.core.hyperparameters import FinetuneConfig

    settings = {"epochs": 25, "learning_rate": 3e-3, "batch_size": 4, "max_length": 64}
    return FinetuneConfig(**{**settings, "freeze_word_embeddings": False, **overrides})


def train_tiny_checkpoint(
    backbone: str, examples, directory: Path, max_length: int, stride: int = 32
) -> Path:
    """Fine-tune a tiny backbone for real (tiny_finetune_config) and save it."""
    from nuner.training.checkpoint import load_fast_tokenizer, save_checkpoint
    from nuner.training.finetune import finetune

    config = tiny_finetune_config(max_length=max_length, stride=stride)
    result = finetune(backbone, examples, config, show_progress=False)
    info = {"config": config.model_dump(), "data": {"train_examples": len(examples)}}
    save_checkpoint(directory, result.model, load_fast_tokenizer(backbone), info)
    return directory


def pretrain_tiny_dual_encoder(backbone: str, directory: Path, fraction: float = 0.02) -> Path:
    """Pre-train a tiny backbone's dual encoder for real on a share of the shared
    LLM-annotated sets (one epoch, high learning rate)."""
    from nuner.training.pretrain.data import load_sources
    from nuner.training.pretrain.trainer import PretrainConfig, pretrain

    examples, sources = load_sources(
        [DATASETS / "pile_ner_sentences", DATASETS / "nuner_sample1k"], fraction=fraction, seed=0
    )
    config = PretrainConfig(epochs=1, batch_size=8, learning_rate=2e-3, max_length=48, negatives=8)
    pretrain(backbone, examples, config, directory, sources, show_progress=False)
    return directory


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from nuner.core.backbones import default_backbone_dir

    return default_backbone_dir()


@pytest.fixture(scope="session")
def wordpiece_tokenizer(minilm_dir: Path) -> Tokenizer:
    """The uncased WordPiece tokenizer of the default backbone."""
    return Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))


def train_byte_level_bpe(add_prefix_space: bool, trim_offsets: bool) -> Tokenizer:
    """A RoBERTa-style byte-level BPE tokenizer trained here on fixture text."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=800,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = (FIXTURES / "bpe_corpus.txt").read_text(encoding="utf-8").splitlines()
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", tokenizer.token_to_id("</s>")),
        ("<s>", tokenizer.token_to_id("<s>")),
        add_prefix_space=add_prefix_space,
        trim_offsets=trim_offsets,
    )
    return tokenizer


@pytest.fixture(scope="session")
def bpe_tokenizers() -> dict[str, Tokenizer]:
    return {
        f"prefix={prefix},trim={trim}": train_byte_level_bpe(prefix, trim)
        for prefix in (True, False)
        for trim in (True, False)
    }


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    """A 2-layer, 32-wide random BERT with the real uncased WordPiece tokenizer."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    BertModel(config).save_pretrained(directory)
    BertTokenizerFast.from_pretrained(minilm_dir).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_roberta_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random RoBERTa with a locally trained byte-level BPE tokenizer."""
    import torch
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaModel

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-roberta")
    backend = train_byte_level_bpe(add_prefix_space=True, trim_offsets=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        mask_token="<mask>",
    )
    tokenizer.save_pretrained(directory)
    config = RobertaConfig(
        vocab_size=backend.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=260,
        pad_token_id=backend.token_to_id("<pad>"),
        bos_token_id=0,
        eos_token_id=2,
    )
    RobertaModel(config).save_pretrained(directory)
    return directory
