"""Few-shot results as a markdown table and a PNG plot of F1 against k."""

from __future__ import annotations

from pathlib import Path

Summary = dict[str, dict[int, dict[str, float]]]


def markdown_table(summaries: dict[str, Summary]) -> str:
    """One row per (dataset, k); one column per backbone/config, ``mean ± std`` in F1 points."""
    names = list(summaries)
    datasets = sorted({d for s in summaries.values() for d in s})
    lines = [
        "| dataset | k | " + " | ".join(names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for dataset in datasets:
        ks = sorted({k for s in summaries.values() for k in s.get(dataset, {})})
        for k in ks:
            cells = [_cell(summaries[name].get(dataset, {}).get(k)) for name in names]
            lines.append(f"| {dataset} | {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(entry: dict[str, float] | None) -> str:
    if not entry:
        return "-"
    marked = f", {entry['best_effort']} best-effort" if entry.get("best_effort") else ""
    return f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f} (n={entry['n']}{marked})"


def plot_f1_vs_k(summaries: dict[str, Summary], path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({d for s in summaries.values() for d in s})
    fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3.4), squeeze=False)
    for axis, dataset in zip(axes[0], datasets, strict=True):
        for name, summary in summaries.items():
            by_k = summary.get(dataset, {})
            ks = sorted(by_k)
            means = [100 * by_k[k]["mean"] for k in ks]
            stds = [100 * by_k[k]["std"] for k in ks]
            axis.errorbar(ks, means, yerr=stds, marker="o", capsize=3, label=name)
        axis.set_xscale("log", base=2)
        axis.set_title(dataset)
        axis.set_xlabel("k (mentions per type, k~2k)")
        axis.set_ylabel("entity F1 (%)")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
