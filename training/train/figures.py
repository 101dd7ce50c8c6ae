"""Report figures (matplotlib Agg PNGs): confusion matrices, ROC curves, training curves, Grad-CAM grid."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_curve

from service.files import atomic_path
from service.vision.heatmap import overlay
from training.data.schema import LABELS
from training.train.explain import group_order

if TYPE_CHECKING:
    from training.train.run import FoldOutcome

logger = logging.getLogger(__name__)


def draw_all(fig_dir: Path, outcomes: list[FoldOutcome]) -> list[str]:
    """Write every figure into `fig_dir`; returns the file names written."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    drawers = {
        "confusion_matrices.png": _confusion,
        "roc_curves.png": _roc,
        "training_curves.png": _curves,
        "gradcam_grid.png": _gradcam_grid,
    }
    written = []
    for name, draw in drawers.items():
        fig = draw(outcomes)
        if fig is None:
            continue
        with atomic_path(fig_dir / name) as tmp:
            fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append(name)
    return written


def _confusion(outcomes: list[FoldOutcome]) -> Any:
    matrices = [(f"fold {o.fold.index}", _matrix(o.confusion)) for o in outcomes]
    matrices.append(("all folds", sum((m for _, m in matrices), np.zeros((2, 2), int))))
    fig, axes = plt.subplots(1, len(matrices), figsize=(2.6 * len(matrices), 2.8), squeeze=False)
    for ax, (title, matrix) in zip(axes[0], matrices, strict=True):
        ax.imshow(matrix, cmap="Blues")
        for (row, col), count in np.ndenumerate(matrix):
            colour = "white" if count > matrix.max() / 2 else "black"
            ax.text(col, row, str(count), ha="center", va="center", color=colour)
        ax.set(title=title, xticks=[0, 1], yticks=[0, 1], xticklabels=LABELS, yticklabels=LABELS)
        ax.set_xlabel("predicted")
    axes[0][0].set_ylabel("true")
    return fig


def _matrix(c: dict[str, int]) -> np.ndarray:
    return np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])


def _roc(outcomes: list[FoldOutcome]) -> Any:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for o in outcomes:
        if len(np.unique(o.y_true)) < 2:
            continue  # ROC undefined with one class in the test part
        fpr, tpr, _ = roc_curve(o.y_true, o.pain_prob)
        ax.plot(fpr, tpr, label=f"fold {o.fold.index} (AUC {o.metrics['roc_auc']:.3f})")
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    ax.set(xlabel="false positive rate (1 - specificity)", ylabel="true positive rate (sensitivity)")
    ax.set_title("ROC, pain = positive")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def _curves(outcomes: list[FoldOutcome]) -> Any:
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for o in outcomes:
        history = o.fit.history
        epochs = np.arange(1, len(history.get("loss", [])) + 1)
        for ax, key in ((loss_ax, "loss"), (acc_ax, "accuracy")):
            line = ax.plot(epochs, history.get(key, []), label=f"fold {o.fold.index} train")[0]
            if f"val_{key}" in history:
                ax.plot(epochs, history[f"val_{key}"], "--", color=line.get_color(), label=f"fold {o.fold.index} val")
        acc_ax.axvline(o.fit.kept_epoch, color="grey", linewidth=0.5)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss (solid: train, dashed: validation)")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy (grey: kept epoch)")
    acc_ax.legend(fontsize=6, ncol=2)
    return fig


def _gradcam_grid(outcomes: list[FoldOutcome]) -> Any:
    groups = group_order()
    examples = {g: [e for o in outcomes for e in o.examples if e.group == g] for g in groups}
    columns = min(max((len(v) for v in examples.values()), default=0), 6)
    if columns == 0:
        return None
    fig, axes = plt.subplots(len(groups), columns, figsize=(1.9 * columns, 2.1 * len(groups)), squeeze=False)
    for row, group in enumerate(groups):
        for col in range(columns):
            ax = axes[row][col]
            ax.axis("off")
            if col < len(examples[group]):
                e = examples[group][col]
                ax.imshow(overlay(e.crop, e.cam))
                ax.set_title(f"fold {e.fold}: p(pain) {e.pain_prob:.2f}", fontsize=7)
        if not examples[group]:
            axes[row][0].text(0.5, 0.5, "(no test crops)", ha="center", va="center", fontsize=8)
        axes[row][0].text(-0.1, 0.5, group, transform=axes[row][0].transAxes, rotation=90, ha="right", va="center")
    fig.suptitle("Grad-CAM of the predicted class (conv5_3) on test crops")
    return fig
