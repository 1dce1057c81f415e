"""Sample grids: one picture per epoch showing both translation cycles side by side."""

from __future__ import annotations

import numpy as np

GRID_ROWS = ("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B")


def sample_grid(rows: dict[str, np.ndarray], order: tuple[str, ...] = GRID_ROWS, gap: int = 2) -> np.ndarray:
    """Tile NxHxWx3 uint8 batches into one image: a row per name in ``order``, a column per sample.

    Rows may hold different sample counts; missing cells stay black.
    """
    batches = [rows[name] for name in order]
    height, width = batches[0].shape[1:3]
    columns = max(len(b) for b in batches)
    grid = np.zeros(
        (len(batches) * (height + gap) - gap, columns * (width + gap) - gap, 3), dtype=np.uint8
    )
    for r, batch in enumerate(batches):
        for c, image in enumerate(batch):
            y, x = r * (height + gap), c * (width + gap)
            grid[y:y + height, x:x + width] = image
    return grid
