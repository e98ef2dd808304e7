"""Dataset readers returning in-memory tensors, NB201 splits, fractional subsets, augmentation."""

from pmfnas.data.augment import random_crop_flip
from pmfnas.data.base import (
    DATASETS,
    ImageDataset,
    cap_images,
    stratified_split,
    take_fraction,
)
from pmfnas.data.folder import read_image_folder
from pmfnas.data.load import load_dataset
from pmfnas.data.splits import apply_split, read_split_file

__all__ = [
    "DATASETS",
    "ImageDataset",
    "apply_split",
    "cap_images",
    "load_dataset",
    "random_crop_flip",
    "read_image_folder",
    "read_split_file",
    "stratified_split",
    "take_fraction",
]
