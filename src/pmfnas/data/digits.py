"""scikit-learn's handwritten digits: the embedded default dataset, no files needed.

1,797 grey 8 x 8 images of the digits 0..9 with values 0..16, scaled to 0..255 (``round(v * 255 /
16)``) so they are stored like every other dataset. There is no official test set, so a fixed
stratified quarter is held out: :func:`~pmfnas.data.base.stratified_split` with seed 0 keeps 75% of
each class for training (1,350 images) and the other 447 are the test set, the same on every run
whatever the search seed. Mean and std are measured on the training part. Digits are not mirror
images of each other, so augmentation must not flip them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pmfnas.data.base import DATASETS, ImageDataset, channel_stats, stratified_split

TRAIN_SHARE = 0.75
SPLIT_SEED = 0


@DATASETS.register("digits")
def read_digits(data_dir: Path | None = None) -> ImageDataset:
    """The digits, split as the module docstring says; ``data_dir`` is not used."""
    from sklearn.datasets import load_digits  # scikit-learn is slow to import; only here

    bunch = load_digits()
    pixels = np.rint(bunch.images * (255 / 16)).astype(np.uint8)
    images = torch.from_numpy(pixels).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train, test = stratified_split(labels, TRAIN_SHARE, SPLIT_SEED)
    mean, std = channel_stats(images[train])
    return ImageDataset(
        name="digits",
        train_x=images[train],
        train_y=labels[train],
        test_x=images[test],
        test_y=labels[test],
        num_classes=10,
        mean=mean,
        std=std,
        classes=tuple(str(d) for d in range(10)),
        flip_invariant=False,
    )
