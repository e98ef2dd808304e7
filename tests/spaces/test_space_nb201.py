import numpy as np
import pytest

from pmfnas.errors import ArchitectureError, ConfigError
from pmfnas.spaces.nb201 import NUM_ARCHS, OPS, NB201Space, format_cell, parse

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ARCH0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


@pytest.fixture(scope="module")
def space():
    return NB201Space()


def test_parse_format_round_trip():
    cell = parse(BEST_C10)
    assert cell == (3, 3, 3, 1, 3, 2)
    assert format_cell(cell) == BEST_C10


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "|nor_conv_3x3~0|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
        BEST_C10.replace("~1|+", "~2|+"),  # wrong source node
        BEST_C10.replace("nor_conv_1x1", "conv_5x5"),  # unknown op
        BEST_C10 + "|",
        BEST_C10.replace("|+|", "+"),
        " " + BEST_C10.replace("|", "", 1),
        BEST_C10.upper(),
    ],
)
def test_malformed_strings_are_errors(bad):
    with pytest.raises(ArchitectureError):
        parse(bad)


def test_published_index_facts(space):
    # NATS-Bench: index 6111 is the best CIFAR-10 cell; index 0 and 11 as in the official records.
    assert space.format(space.arch(6111)) == BEST_C10
    assert space.format(space.arch(0)) == ARCH0
    assert space.index(parse(BEST_C10)) == 6111


def test_index_order_matches_official_meta(space, data_dir):
    from pmfnas.safe_pickle import load_pickle

    meta = load_pickle(data_dir / "nb201" / "nats-tss-format" / "meta.pickle.pbz2")
    archs = meta["meta_archs"]
    assert len(archs) == NUM_ARCHS
    assert [space.format(a) for a in space] == archs


def test_index_bounds(space):
    with pytest.raises(ArchitectureError):
        space.arch(NUM_ARCHS)
    with pytest.raises(ArchitectureError):
        space.arch(-1)
    with pytest.raises(ArchitectureError):
        space.index((0, 1, 2))


def test_resolve_accepts_index_or_string(space):
    assert space.resolve("6111") == space.resolve(BEST_C10)


def test_enumeration_is_complete_and_unique(space):
    cells = list(space)
    assert len(set(cells)) == NUM_ARCHS == len(OPS) ** 6


def test_mutation_changes_exactly_one_edge(space):
    rng = np.random.default_rng(0)
    cell = parse(BEST_C10)
    for _ in range(200):
        child = space.mutate(cell, rng)
        assert sum(a != b for a, b in zip(cell, child, strict=True)) == 1


def test_mutation_reaches_every_neighbour(space):
    rng = np.random.default_rng(1)
    cell = parse(ARCH0)
    seen = {space.mutate(cell, rng) for _ in range(2000)}
    assert seen == set(space.neighbours(cell))


def test_neighbours(space):
    cell = parse(BEST_C10)
    nbrs = space.neighbours(cell)
    assert len(nbrs) == 24 == len(set(nbrs))
    assert cell not in nbrs


def test_crossover_takes_each_edge_from_a_parent(space):
    rng = np.random.default_rng(2)
    a, b = (0,) * 6, (4,) * 6
    children = {space.crossover(a, b, rng) for _ in range(300)}
    assert all(set(c) <= {0, 4} for c in children)
    assert len(children) > 20  # genuinely mixes


def test_sampling_is_seeded_and_uniform(space):
    draws = [space.sample(np.random.default_rng(3)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = np.random.default_rng(4)
    ops = np.array([space.sample(rng) for _ in range(5000)])
    counts = np.bincount(ops.ravel(), minlength=5) / ops.size
    assert np.allclose(counts, 0.2, atol=0.02)


def test_encoding_is_one_hot(space):
    enc = space.encode(parse(BEST_C10))
    assert enc.shape == (30,)
    assert enc.sum() == 6
    assert enc.reshape(6, 5).argmax(axis=1).tolist() == [3, 3, 3, 1, 3, 2]


def test_resolve_takes_only_ascii_indices(space):
    with pytest.raises(ArchitectureError, match="malformed"):
        space.resolve("²")
    with pytest.raises(ConfigError, match="out of range"):
        space.resolve("9" * 5000)
    assert space.resolve("0006111") == space.arch(6111)
