"""History buffer of generated images for discriminator updates (Shrivastava et al.).

Updating a discriminator on a mix of the newest and older fakes, as CycleGAN
does, damps the oscillation between generator and discriminator.
"""

from __future__ import annotations

import random

import torch


class ImagePool:
    """Keeps up to ``pool_size`` past fakes; each query returns new or swapped-out old ones."""

    def __init__(self, pool_size: int = 50, rng: random.Random | None = None) -> None:
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []
        self.rng = rng or random.Random()

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Batch of fakes to show the discriminator, same shape as ``images``.

        While the pool fills, images pass through and are stored. Once full, each
        image is, with probability 1/2, swapped with a random stored one (the old
        one is returned), otherwise returned as is.
        """
        if self.pool_size <= 0:
            return images
        chosen = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                chosen.append(image)
            elif self.rng.random() > 0.5:
                index = self.rng.randrange(self.pool_size)
                chosen.append(self.images[index].clone())
                self.images[index] = image.clone()
            else:
                chosen.append(image)
        return torch.cat(chosen, 0)
