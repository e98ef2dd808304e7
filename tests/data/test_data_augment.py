"""Tensor augmentation, normalisation, batching and the dataset type's own checks."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from pmfnas.data import ImageDataset, random_crop_flip
from pmfnas.data.augment import resize
from pmfnas.errors import ConfigError, DataError


def images(n: int = 64, dtype=torch.uint8) -> torch.Tensor:
    x = torch.randint(1, 256, (n, 3, 10, 12), generator=torch.Generator().manual_seed(0))
    return x.to(dtype)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_shape_and_dtype_kept_input_untouched(dtype) -> None:
    x = images(dtype=dtype)
    before = x.clone()
    out = random_crop_flip(x, seeded(0), padding=3)
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.equal(x, before)


def test_flip_is_a_flip() -> None:
    x = images(200)
    out = random_crop_flip(x, seeded(1), padding=0)
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert bool((flipped | kept).all())
    assert 70 < int(flipped.sum()) < 130  # about half


def test_crop_only_shifts() -> None:
    x, p = images(100), 2
    out = random_crop_flip(x, seeded(2), padding=p, flip=False)
    padded = F.pad(x, (p, p, p, p))
    h, w = x.shape[2:]
    offsets = set()
    for o, pad in zip(out, padded, strict=True):
        matches = [
            (dy, dx)
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
            if torch.equal(o, pad[:, dy : dy + h, dx : dx + w])
        ]
        assert matches  # every output is one window of the zero-padded image
        offsets.add(matches[0])
    assert len(offsets) > 15  # offsets spread over the 5 x 5 choices


def test_deterministic_for_a_seed() -> None:
    x = images()
    assert torch.equal(random_crop_flip(x, seeded(5)), random_crop_flip(x, seeded(5)))
    assert not torch.equal(random_crop_flip(x, seeded(5)), random_crop_flip(x, seeded(6)))


def dataset(n: int = 10, **changes) -> ImageDataset:
    x = torch.arange(n * 3 * 4 * 4, dtype=torch.int64).remainder(256).to(torch.uint8)
    labels = torch.arange(n) % 3
    data = ImageDataset(
        name="toy",
        train_x=x.view(n, 3, 4, 4),
        train_y=labels,
        test_x=x.view(n, 3, 4, 4)[:4],
        test_y=labels[:4],
        num_classes=3,
        mean=(0.5, 0.25, 0.75),
        std=(0.5, 0.25, 0.125),
    )
    return replace(data, **changes)


def test_normalize() -> None:
    data = dataset()
    x = torch.tensor([127.5, 63.75, 191.25]).view(1, 3, 1, 1).expand(2, 3, 2, 2)
    assert torch.allclose(data.normalize(x / 255), torch.zeros(2, 3, 2, 2), atol=1e-6)
    out = data.normalize(torch.full((1, 3, 1, 1), 255, dtype=torch.uint8))
    assert out.dtype == torch.float32
    assert out.flatten().tolist() == pytest.approx([1.0, 3.0, 2.0])
    assert data.normalize(data.train_x, dtype=torch.float64).dtype == torch.float64


def test_batches_cover_the_part_and_are_seeded() -> None:
    data = dataset(10)
    batches = list(data.batches("train", 4))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([x for x, _ in batches]), data.normalize(data.train_x))
    assert [len(y) for _, y in data.batches("test", 3, drop_last=True)] == [3]

    def run(seed: int) -> list[torch.Tensor]:
        g = seeded(seed)
        return [x for x, _ in data.batches(batch_size=4, shuffle=True, augment=True, generator=g)]

    assert all(torch.equal(a, b) for a, b in zip(run(1), run(1), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(run(1), run(2), strict=True))
    labels = torch.cat(
        [y for _, y in data.batches(batch_size=3, shuffle=True, generator=seeded(0))]
    )
    assert sorted(labels.tolist()) == sorted(data.train_y.tolist())


def test_no_flip_for_datasets_that_are_not_flip_invariant() -> None:
    data = dataset(50, flip_invariant=False)
    out = torch.cat([x for x, _ in data.batches(augment=True, generator=seeded(0))])
    # with padding 1 and no flip, the centre 2 x 2 pixels move by at most one pixel
    source = data.normalize(data.train_x)
    for o, s in zip(out, source, strict=True):
        assert any(
            torch.equal(o[:, 1:3, 1:3], s[:, 1 + dy : 3 + dy, 1 + dx : 3 + dx])
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        )


def test_dataset_checks_and_parts() -> None:
    data = dataset()
    assert data.channels == 3 and data.image_size == (4, 4) and data.crop_padding == 1
    assert "train=10" in repr(data) and "valid" not in repr(data)
    with pytest.raises(ConfigError, match=r"has no validation part"):
        data.part("valid")
    with pytest.raises(ConfigError, match=r"unknown dataset part"):
        data.part("dev")
    with pytest.raises(ConfigError, match=r"batch_size must be positive"):
        next(data.batches(batch_size=0))
    with pytest.raises(DataError, match=r"labels outside 0..2"):
        dataset(train_y=torch.arange(10))
    with pytest.raises(DataError, match=r"one label per image"):
        dataset(test_y=torch.zeros(3, dtype=torch.int64))
    with pytest.raises(DataError, match=r"valid_x and valid_y must be given together"):
        dataset(valid_x=data.test_x)
    with pytest.raises(DataError, match=r"one value per channel"):
        dataset(mean=(0.5,))
    with pytest.raises(DataError, match=r"expected \(N, C, H, W\)"):
        dataset(test_x=data.test_x[:, :1])


def test_resize_keeps_dtype_and_a_constant_image():
    images = torch.full((3, 2, 32, 32), 77, dtype=torch.uint8)
    small = resize(images, 16)
    assert small.shape == (3, 2, 16, 16) and small.dtype == torch.uint8
    assert torch.equal(small, torch.full_like(small, 77))
    assert resize(images, 32) is images


def test_resize_filters_when_shrinking():
    stripes = torch.zeros(1, 1, 8, 8)
    stripes[..., ::2] = 1.0  # alternating columns: without antialiasing a shrink keeps 0s or 1s
    small = resize(stripes, 4)
    assert small.mean() == pytest.approx(0.5, abs=0.05)
    assert ((small > 0.3) & (small < 0.7)).all()
