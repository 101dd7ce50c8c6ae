"""The run's record: results.json, and report.md / report.html with a Table-5.1-style table and figures."""

from __future__ import annotations

import html
import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from service.files import atomic_open, write_csv_atomic
from training.data.schema import LABELS
from training.model.architecture import split_layer
from training.train import figures
from training.train.config import config_summary
from training.train.metrics import METRICS

if TYPE_CHECKING:
    from training.train.plan import Plan
    from training.train.run import FoldOutcome

logger = logging.getLogger(__name__)

FORMAT: Final = "painwatch-train-results"
THESIS_TABLE_5_1: Final[dict[str, dict[str, tuple[float, float | None]]]] = {
    "mpain": {"accuracy": (0.874, 0.034), "f1": (0.754, 0.054)},
    "icope": {"accuracy": (0.838, 0.107), "f1": (0.668, 0.293)},
    "mpain_icope": {"accuracy": (0.888, 0.050), "f1": (0.796, 0.081)},
    "videodol": {"accuracy": (0.888, None), "f1": (0.788, None)},
}
"""Thesis Table 5.1, by preset experiment name: (mean, std or None for the single split)."""
METRIC_TITLES: Final = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall (sensitivity)",
    "specificity": "Specificity",
    "f1": "F1",
    "roc_auc": "ROC-AUC",
}
CACHE_NOTE: Final = (
    "block 5 + head trained on cached pool4 features of un-augmented crops (augmentation off)",
    "every epoch ran the whole network on the (augmented) images",
)


def clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python numbers (recursively)."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build_results(
    plan: Plan,
    outcomes: list[FoldOutcome],
    summary: dict[str, Any],
    final: dict[str, Any],
    warnings: list[str],
    seconds: float,
) -> dict[str, Any]:
    config = plan.config
    split_rows = {row["fold"]: row for row in plan.split_check["folds"]}
    folds = [
        {
            "fold": o.fold.index,
            **{k: v for k, v in split_rows[o.fold.index].items() if k != "fold"},
            "metrics": o.metrics,
            "confusion": o.confusion,
            "epochs_run": o.fit.epochs_run,
            "kept_epoch": o.fit.kept_epoch,
            "best_val_accuracy": o.fit.best_val_accuracy,
            "train_seconds": round(o.fit.seconds, 2),
            "median_epoch_seconds": float(np.median(o.fit.epoch_seconds)) if o.fit.epoch_seconds else None,
            "history": o.fit.history,
        }
        for o in outcomes
    ]
    return clean(
        {
            "format": FORMAT,
            "format_version": 1,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "experiment": config.experiment,
            "command": plan.command,
            "demo": plan.demo,
            "datasets": [d.as_dict() for d in plan.datasets],
            "config": config_summary(config),
            "split_check": {k: v for k, v in plan.split_check.items() if k != "folds"},
            "cache_pool4": {
                "used": config.training.cache_pool4,
                "note": _cache_note(config),
            },
            "recipe": config.description or None,
            "backbone_weights": str(plan.backbone_weights) if plan.backbone_weights else None,
            "warnings": warnings,
            "folds": folds,
            "summary": summary,
            "thesis_reference": _thesis_reference(config.experiment),
            "gradcam_mask_share": _mask_share(outcomes),
            "final": final,
            "seconds": round(seconds, 1),
        }
    )


def _thesis_reference(experiment: str) -> dict[str, Any] | None:
    table = THESIS_TABLE_5_1.get(experiment)
    if table is None:
        return None
    return {name: {"mean": mean, "std": std} for name, (mean, std) in table.items()}


def _cache_note(config: Any) -> str:
    if not config.training.cache_pool4:
        return CACHE_NOTE[1]
    trainable_from = config.model.trainable_from
    if trainable_from == "conv5_1":
        return CACHE_NOTE[0]
    split = split_layer(trainable_from)
    return f"{trainable_from} onward + head trained on cached {split} features of un-augmented crops (augmentation off)"


def _share_summary(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    shares = np.array(pairs)
    inside, area = float(shares[:, 0].mean()), float(shares[:, 1].mean())
    return {
        "pain_test_crops": len(pairs),
        "mean_share_inside_masks": inside,
        "mean_mask_area_share": area,
        "ratio": inside / area if area > 0 else None,
    }


def _mask_share(outcomes: list[FoldOutcome]) -> dict[str, Any] | None:
    pairs = [pair for o in outcomes for pair in o.mask_shares]
    if not pairs:
        return None
    per_cue: dict[str, list[tuple[float, float]]] = {}
    for outcome in outcomes:
        for cue, cue_pairs in outcome.cue_shares.items():
            per_cue.setdefault(cue, []).extend(cue_pairs)
    return {
        **_share_summary(pairs),
        "per_cue": {cue: _share_summary(per_cue[cue]) for cue in sorted(per_cue)},
        "meaning": "share of the pain-class Grad-CAM mass inside the drawn cue masks, mean over pain test crops; "
        "the mask area share is what a uniform map would give; ratio = share / area share (1 = no better than "
        "uniform). per_cue: the same for each cue group's own pixels, over the pain test crops showing that cue",
    }


PREDICTION_COLUMNS: Final = ("fold", "crop_path", "infant", "label", "pain_prob", "predicted")


def write_predictions(path: Path, plan: Plan, outcomes: list[FoldOutcome]) -> int:
    """predictions.csv: every test crop's pain probability, by fold (for error analysis and re-thresholding)."""
    rows = [
        {
            "fold": o.fold.index,
            "crop_path": str(plan.samples[i].path),
            "infant": plan.samples[i].group,
            "label": LABELS[plan.samples[i].label],
            "pain_prob": f"{prob:.6f}",
            "predicted": LABELS[int(prob >= 0.5)],
        }
        for o in outcomes
        for i, prob in zip(o.fold.test, o.pain_prob, strict=True)
    ]
    return write_csv_atomic(path, PREDICTION_COLUMNS, rows)


def write_results(path: Path, results: dict[str, Any]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2, allow_nan=False)
        handle.write("\n")
    logger.info("results written to %s", path)


def write_report(run_dir: Path, results: dict[str, Any], outcomes: list[FoldOutcome]) -> None:
    """figures/*.png, report.md and report.html (each file atomically); predictions.csv is written by the run."""
    fig_dir = run_dir / "figures"
    names = figures.draw_all(fig_dir, outcomes)
    results["figures"] = [f"figures/{name}" for name in names]
    with atomic_open(run_dir / "report.md", "w", encoding="utf-8") as handle:
        handle.write(render_markdown(results))
    with atomic_open(run_dir / "report.html", "w", encoding="utf-8") as handle:
        handle.write(render_html(results))


def _fmt(value: float | None, std: float | None = None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f} ± {std:.3f}" if std is not None else f"{value:.3f}"


def table_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the Table-5.1-style table: metrics x (folds, mean ± std, thesis)."""
    folds = results["folds"]
    header = ["Metric", *[f"Fold {f['fold']}" for f in folds], "Mean ± std"]
    reference = results.get("thesis_reference")
    if reference:
        header.append("Thesis (Table 5.1)")
    rows = []
    for name in METRICS:
        stats = results["summary"][name]
        row = [METRIC_TITLES[name], *[_fmt(f["metrics"][name]) for f in folds], _fmt(stats["mean"], stats["std"])]
        if reference:
            ref = reference.get(name)
            row.append(_fmt(ref["mean"], ref["std"]) if ref else "—")
        rows.append(row)
    return header, rows


def _facts(results: dict[str, Any]) -> list[str]:
    split = results["split_check"]
    facts = [
        f"Experiment: **{results['experiment']}**" + (" — DEMO: synthetic data only" if results["demo"] else ""),
        f"Command: `{results['command']}`",
        "Datasets: "
        + "; ".join(
            f"{d['name']} ({d['infants']} infants, {d['frames']} crops, "
            + ", ".join(f"{k} {v}" for k, v in d["class_balance"].items())
            + ")"
            for d in results["datasets"]
        ),
        f"Leakage check: **{split['leakage_check']}** ({split['rule']})",
        f"pool4 cache: {'used' if results['cache_pool4']['used'] else 'not used'} — {results['cache_pool4']['note']}",
        f"Backbone weights: {results['backbone_weights'] or 'none (random initialisation)'}",
        f"Final checkpoint: `{results['final']['folder']}` — {results['final']['final_model']}",
        f"Run time: {results['seconds']:.0f} s",
    ]
    if results.get("recipe"):
        facts.insert(1, f"Recipe: {results['recipe']}")
    share = results.get("gradcam_mask_share")
    if share:
        ratio = share.get("ratio")
        facts.append(
            f"Grad-CAM on the cue masks: {share['mean_share_inside_masks']:.1%} of the pain-class map mass lies "
            f"inside the drawn cue masks (mean over {share['pain_test_crops']} pain test crops); the masks cover "
            f"{share['mean_mask_area_share']:.1%} of a crop, which is what a uniform map would give"
            + (f" (ratio {ratio:.2f}x)" if ratio is not None else "")
        )
    facts.extend(f"Warning: {w}" for w in results["warnings"])
    return facts


def _cue_lines(results: dict[str, Any]) -> list[str]:
    share = results.get("gradcam_mask_share") or {}
    per_cue = share.get("per_cue") or {}
    if not per_cue:
        return []
    lines = [
        "",
        "## Grad-CAM in the cue masks, per cue group (pain test crops)",
        "",
        "Share of the pain-class Grad-CAM mass inside the group's own drawn pixels, over the pain test crops showing "
        "that cue, against the share of the crop those pixels cover (what a uniform map would give).",
        "",
        "| Cue group | Crops | Mass inside | Area share | Ratio |",
        "|---|---|---|---|---|",
    ]
    rows = [("all cues (union)", share), *per_cue.items()]
    for name, item in rows:
        ratio = item.get("ratio")
        lines.append(
            f"| {name} | {item['pain_test_crops']} | {item['mean_share_inside_masks']:.1%} | "
            f"{item['mean_mask_area_share']:.1%} | {'-' if ratio is None else f'{ratio:.2f}x'} |"
        )
    return lines


def _split_lines(results: dict[str, Any]) -> list[str]:
    header = "| Fold | Train groups / crops | Validation groups / crops | Test groups / crops | Epochs (kept) |"
    lines = [header, "|---|---|---|---|---|"]
    for f in results["folds"]:
        lines.append(
            f"| {f['fold']} | {f['train_infants']} / {f['train_frames']} | {f['validation_infants']} / "
            f"{f['validation_frames']} | {f['test_infants']} / {f['test_frames']} | {f['epochs_run']} "
            f"({f['kept_epoch']}) |"
        )
    return lines


def render_markdown(results: dict[str, Any]) -> str:
    header, rows = table_rows(results)
    lines = [f"# Training report: {results['experiment']}", ""]
    lines += [f"- {fact}" for fact in _facts(results)]
    lines += ["", "## Results (pain is the positive class; std over folds, ddof 0)", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += _cue_lines(results)
    lines += ["", "## Splits (grouped by infant and face photograph)", "", *_split_lines(results), "", "## Figures", ""]
    lines += [f"![{Path(name).stem}]({name})" for name in results.get("figures", [])]
    lines += ["", "Per-crop test probabilities: `predictions.csv`; checkpoints: `fold_*/`, `final/`."]
    return "\n".join(lines) + "\n"


def render_html(results: dict[str, Any]) -> str:
    header, rows = table_rows(results)
    esc = html.escape
    table = "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"
    table += "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows) + "</table>"
    facts = "".join(f"<li>{esc(f.replace('**', '').replace('`', ''))}</li>" for f in _facts(results))
    images = "".join(
        f'<figure><img src="{esc(name)}" alt="{esc(Path(name).stem)}"><figcaption>{esc(Path(name).stem)}'
        "</figcaption></figure>"
        for name in results.get("figures", [])
    )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
        "img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>painwatch training report: "
        f"{esc(results['experiment'])}</title><style>{style}</style></head><body>"
        f"<h1>Training report: {esc(results['experiment'])}</h1><ul>{facts}</ul>"
        f"<h2>Results (pain is the positive class)</h2>{table}<h2>Figures</h2>{images}</body></html>\n"
    )
