"""Validation metrics for StyleNet: per-head and joint accuracy, confusion matrices."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from fittingroom.style.model import StyleNet
from fittingroom.training import save_figure


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``num_classes²`` counts; row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return matrix


@dataclass
class StyleEvaluation:
    """Accuracy of each head, of both at once, and the two confusion matrices."""

    colour_acc: float
    pattern_acc: float
    joint_acc: float
    colour_confusion: np.ndarray
    pattern_confusion: np.ndarray
    count: int

    def metrics(self) -> dict[str, float]:
        """The manifest's ``metrics`` entries."""
        return {
            "val_colour_acc": round(self.colour_acc, 4),
            "val_pattern_acc": round(self.pattern_acc, 4),
            "val_joint_acc": round(self.joint_acc, 4),
            "val_count": self.count,
        }


@torch.no_grad()
def evaluate_style(model: StyleNet, loader: DataLoader, device: torch.device) -> StyleEvaluation:
    """Run ``model`` over ``loader`` (images, colour idx, pattern idx) and score it."""
    was_training = model.training
    model.eval()
    truths, preds = [], []
    for images, colours, patterns in loader:
        colour_logits, pattern_logits = model(images.to(device))
        truths.append(torch.stack([colours, patterns], dim=1))
        preds.append(torch.stack([colour_logits.argmax(1), pattern_logits.argmax(1)], 1).cpu())
    model.train(was_training)
    truth = torch.cat(truths).numpy() if truths else np.zeros((0, 2), np.int64)
    pred = torch.cat(preds).numpy() if preds else np.zeros((0, 2), np.int64)
    hits = truth == pred
    count = len(truth)
    return StyleEvaluation(
        colour_acc=float(hits[:, 0].mean()) if count else 0.0,
        pattern_acc=float(hits[:, 1].mean()) if count else 0.0,
        joint_acc=float(hits.all(axis=1).mean()) if count else 0.0,
        colour_confusion=confusion_matrix(truth[:, 0], pred[:, 0], model.num_colours),
        pattern_confusion=confusion_matrix(truth[:, 1], pred[:, 1], model.num_patterns),
        count=count,
    )


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: str | Path, title: str) -> Path:
    """Write a confusion-matrix PNG (row-normalised colours, raw counts as text)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = matrix.sum(axis=1, keepdims=True)
    norm = matrix / np.maximum(rows, 1)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.55 * n))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return save_figure(fig, path)


def write_confusion_plots(
    evaluation: StyleEvaluation, colours: Sequence[str], patterns: Sequence[str], out_dir: str | Path
) -> list[Path]:
    """``confusion_colour.png`` and ``confusion_pattern.png`` in ``out_dir``."""
    out_dir = Path(out_dir)
    return [
        plot_confusion(evaluation.colour_confusion, colours, out_dir / "confusion_colour.png",
                       f"colour (acc {evaluation.colour_acc:.3f})"),
        plot_confusion(evaluation.pattern_confusion, patterns, out_dir / "confusion_pattern.png",
                       f"pattern (acc {evaluation.pattern_acc:.3f})"),
    ]
