"""docs/zeroshot.md, .json and .png from bench/zeroshot.py's records."""

from __future__ import annotations

import json
import statistics

from common import DOCS, RESULT_DATASETS

BASELINE = {  # the figures: e1-lr1e-4 backbone, threshold chosen on dev/train
    "conll2003": 49.0,
    "wnut2017": 37.2,
    "mit_movie": 15.4,
    "mit_restaurant": 22.7,
}
GOAL = 45.0
POOLINGS = ("average", "first", "max")


def by_encoder(runs: list[dict]) -> dict[str, dict[str, dict]]:
    table: dict[str, dict[str, dict]] = {}
    for run in runs:
        table.setdefault(run["encoder"], {})[run["dataset"]] = run
    return table


def average(per_dataset: dict[str, float]) -> float | None:
    if not all(d in per_dataset for d in RESULT_DATASETS):
        return None
    return statistics.mean(per_dataset[d] for d in RESULT_DATASETS)


def render(runs: list[dict], speed: dict | None, selections: dict, peers: list[tuple]) -> None:
    table = by_encoder(runs)
    lines = [
        "# Zero-shot extraction: labels at request time",
        "",
        "`python bench/zeroshot.py` (stages in its docstring). Strict entity F1 (exact span "
        "and label) on the full test splits; each dataset's tags offered as written-out "
        "names (`bench/zeroshot.py` LABEL_NAMES); one threshold per dataset chosen on the "
        "dev split (conll2003, wnut2017) or a seeded 1,000-sentence train sample (the MIT "
        'sets have no dev), never on test. "At calibrated" is what a request without '
        "`threshold` gets: the bundle's own threshold, calibrated at export on held-out "
        "pre-training data. Decoding policy: docs/spans.md.",
        "",
        "| encoder | pre-training data (licence) | "
        + " | ".join(RESULT_DATASETS)
        + " | average | average at calibrated |",
        "|---|---|" + "---:|" * (len(RESULT_DATASETS) + 2),
        "| baseline (issue: e1-lr1e-4, all shared sets) | pile_ner + nuner_sample1k (CC BY-NC) | "
        + " | ".join(f"{BASELINE[d]:.1f}" for d in RESULT_DATASETS)
        + f" | {statistics.mean(BASELINE.values()):.1f} | - |",
    ]
    summary = {}
    for name, per_dataset in table.items():
        f1 = {d: r["test_f1"] for d, r in per_dataset.items()}
        at_calibrated = {d: r["test_f1_at_calibrated"] for d, r in per_dataset.items()}
        first = next(iter(per_dataset.values()))
        data = ", ".join(
            f"{s['name']} {s['sentences']}" for s in (first["pretraining"]["data"] or [])
        )
        licences = ", ".join(first["licences"])
        config = first["pretraining"].get("config") or {}
        data += f"; {config.get('epochs')} epochs, lr {config.get('learning_rate')}"
        mean, mean_calibrated = average(f1), average(at_calibrated)
        cells = [
            f"{f1[d]:.1f} (t={per_dataset[d]['threshold']})" if d in f1 else "-"
            for d in RESULT_DATASETS
        ]
        lines.append(
            f"| {name} | {data} ({licences}) | "
            + " | ".join(cells)
            + f" | {_fmt(mean)} | {_fmt(mean_calibrated)} |"
        )
        summary[name] = {"f1": f1, "f1_at_calibrated": at_calibrated, "average": mean}
    best = max((s["average"] or 0 for s in summary.values()), default=0)
    lines += [
        "",
        f"**Goal (four-set average at least {GOAL:.0f}): "
        + ("reached" if best >= GOAL else f"not reached** (best {best:.1f})")
        + ("**" if best >= GOAL else ""),
        "",
        "Published zero-shot figures of other systems (other models, other pre-training "
        "data and compute; for orientation, not comparable to the table above):",
        "",
    ]
    lines += [f"* {peer}: {value} ({what})" for peer, what, value in peers]
    lines += [
        "",
        "What moved the average, and what did not: more pre-training over all three shared "
        "sets: 2 epochs instead of the baseline's 1 (+1.5), then a third epoch resumed from "
        "the second's checkpoint (its linear decay re-stretched over 3 epochs: +1.2 on the "
        "selection splits, chosen there; +1.2 on test), and a fourth the same way (+0.06 on "
        "the selection splits, +0.2 on test: the returns of more epochs flatten). The "
        "MIT-only starter is below them on conll2003 and wnut2017 but above on mit_movie. "
        "The starter now trains every layer (chosen on dev for the few-shot taggers on it, "
        "docs/levers.md `starter-f0`; on the selection splits 32.9 against 31.5 with the "
        "bottom half frozen): on test the same average at the chosen thresholds (27.0 "
        "against 27.1: up on the MIT sets, down on conll2003 and wnut2017) and +2.3 at the "
        "calibrated one, what a request without `threshold` gets (23.4 against 21.1). "
        "Training every layer (none frozen, 1 epoch; judged on the selection splits only, "
        "so not run on test) reached 36.5 "
        "there against 37.0 for 2 epochs with the bottom half frozen and 38.3 for 3: "
        "worth a longer run. Word pooling (below) is a wash on dev, so the policy keeps "
        "the mean. Not tried yet, for want of CPU time: still more epochs, "
        "concept pooling and negatives chosen on dev, label descriptions, a GPU pre-training "
        "run; the goal needs pre-training beyond what this machine affords in one session.",
    ]
    lines += [
        "",
        "## Publishing a better encoder",
        "",
        "Pre-train (here, or on a GPU: `nuner pretrain` uses bf16 and `torchrun` there), "
        "export with verification and a calibrated threshold, publish, and make it the "
        "default; running replicas switch within `NUNER_ALIAS_CACHE_SECONDS`, no restart:",
        "",
        "```bash",
        "nuner pretrain D/pile_ner_slimer391 D/nuner_sample1k D/pile_ner_sentences --out pre "
        "--epochs 3 --lr 1e-4",
        "nuner export-encoder pre --out bundle --name pile-nc --verify-data D/conll2003/dev.jsonl "
        "--calibration-data D/wnut2017/dev.jsonl",
        "nuner publish-encoder bundle          # prints the non-commercial note for pile_ner data",
        "nuner default-encoder pile-nc         # or PUT /v1/encoders/default",
        "```",
        "",
        "An encoder pre-trained on the pile_ner sets (CC BY-NC 4.0) says `non_commercial: true` "
        "in its manifest and in `/v1/encoders`; the default stays the MIT starter unless an "
        "operator chooses otherwise.",
    ]
    if selections:
        lines += [
            "",
            "## Word pooling, chosen on dev / train samples",
            "",
            "Mean over the four selection splits of the best-threshold F1, per way of "
            "pooling a word's sub-word scores (`bench/zeroshot.py select`). `max` is ahead "
            "by 0.01-0.3 points, within noise; the policy keeps `average` (the baseline's):",
            "",
            "| encoder | " + " | ".join(POOLINGS) + " | best |",
            "|---|" + "---:|" * (len(POOLINGS) + 1),
        ]
        lines += [
            f"| {name} | "
            + " | ".join(f"{chosen['mean_f1'][p]:.2f}" for p in POOLINGS)
            + f" | {chosen['chosen']} |"
            for name, chosen in selections.items()
        ]
    if speed:
        seconds = speed["seconds_by_labels"]
        lines += [
            "",
            "## Speed (in process, fp32, 2 CPU cores)",
            "",
            f"{speed['texts']} conll2003 test sentences, median of 9 runs, label vectors "
            "cached (as the service's LRU holds them):",
            "",
            "| labels | seconds | vs 1 label |",
            "|---:|---:|---:|",
        ]
        lines += [f"| {n} | {seconds[n]:.3f} | {seconds[n] / seconds['1']:.2f}x |" for n in seconds]
        lines += [
            "",
            "Zero-shot with 1 label vs a fine-tuned all-MiniLM-L6-v2 CoNLL tagger (the "
            "encoders' backbone size; `bench/common.py`) on "
            f"the same texts: throughput ratio {speed['zero_shot_throughput_vs_tagger']:.2f} "
            "(goal at least 0.90); 100 labels cost "
            f"{speed['ratio_100_vs_1']:.2f}x one label (goal at most 1.2x).",
        ]
    if speed and speed.get("http"):
        http = speed["http"]
        lines += [
            "",
            f"## Speed over HTTP (`nuner serve`, {http['clients']} clients, one sentence per "
            "request, fp32, median of the interleaved runs)",
            "",
            "| what | sentences/s | runs |",
            "|---|---:|---|",
        ]
        lines += [
            f"| {name} | {value:.1f} | {', '.join(f'{v:.1f}' for v in http['runs'][name])} |"
            for name, value in http["sentences_per_second"].items()
        ]
        lines += [
            "",
            f"Zero-shot (1 label) / tagger throughput: {http['zero_shot_1_label_vs_tagger']:.2f}; "
            f"100 labels cost {http['cost_100_vs_1_labels']:.2f}x one label.",
        ]
    lines += ["", "![zero-shot F1 per dataset](zeroshot.png)"]
    (DOCS / "zeroshot.md").write_text("\n".join(lines) + "\n")
    (DOCS / "zeroshot.json").write_text(
        json.dumps({"baseline": BASELINE, "encoders": summary, "speed": speed}, indent=2)
    )
    _plot(summary)


def _fmt(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def _plot(summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {"baseline (issue)": BASELINE} | {n: s["f1"] for n, s in summary.items()}
    width = 0.8 / len(series)
    figure, axis = plt.subplots(figsize=(8, 4))
    for index, (name, f1) in enumerate(series.items()):
        xs = [i + index * width for i in range(len(RESULT_DATASETS))]
        axis.bar(xs, [f1.get(d, 0) for d in RESULT_DATASETS], width, label=name)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(RESULT_DATASETS))])
    axis.set_xticklabels(RESULT_DATASETS)
    axis.set_ylabel("zero-shot strict entity F1 (test)")
    axis.axhline(
        GOAL, color="grey", linestyle="--", linewidth=1, label=f"goal (average {GOAL:.0f})"
    )
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(DOCS / "zeroshot.png", dpi=120)
