import numpy as np
import pytest

from pmfnas.errors import ArchitectureError, ConfigError
from pmfnas.spaces import EnumerableSpace, SearchSpace, create_space
from pmfnas.spaces.darts import PUBLISHED, DartsSpace
from pmfnas.spaces.darts.costs import params_and_flops
from pmfnas.spaces.darts.genotype import LENGTH, OPS, check
from pmfnas.spaces.oneshot import OneShotSpace

SPACE = DartsSpace()
DARTS_V2 = PUBLISHED["DARTS_V2"]


def _sample(n: int, seed: int = 0) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    return [SPACE.sample(rng) for _ in range(n)]


def _edges(arch: tuple[int, ...]) -> set[tuple[int, int, int, int]]:
    """(cell, node, input, op) of every edge of a genotype."""
    return {
        (cell, node, arch[base + 4 * node + 2 * e], arch[base + 4 * node + 2 * e + 1])
        for cell, base in ((0, 0), (1, 16))
        for node in range(4)
        for e in range(2)
    }


def test_the_darts_space_is_registered_searchable_one_shot_and_not_enumerable():
    space = create_space("darts")
    assert isinstance(space, SearchSpace) and isinstance(space, OneShotSpace)
    assert not isinstance(space, EnumerableSpace)
    assert space.candidates == ("none", *OPS) and space.choice_points == 28


# ---------------------------------------------------------------- the text


def test_published_genotypes_read_and_their_canonical_text_reads_back():
    for name, text in PUBLISHED.items():
        arch = SPACE.parse(text)
        assert len(arch) == LENGTH and SPACE.parse(SPACE.format(arch)) == arch
        assert SPACE.resolve(name) == arch
    # the order of a node's two edges does not matter; the canonical text sorts them by input
    v2 = SPACE.parse(DARTS_V2)
    assert "('skip_connect', 0), ('sep_conv_3x3', 1)" in SPACE.format(v2)
    assert SPACE.format(v2).endswith("reduce_concat=[2, 3, 4, 5])")


def test_an_unknown_name_lists_the_published_ones():
    with pytest.raises(ArchitectureError, match=r"unknown genotype name 'DARTS_V9'.*DARTS_V2"):
        SPACE.resolve("DARTS_V9")


def test_range_concat_reads_as_darts_prints_it():
    text = DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)")
    assert SPACE.parse(text) == SPACE.parse(DARTS_V2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("('sep_conv_3x3', 0)", "('none', 0)"), "none exists only inside the supernet"),
        (("('sep_conv_3x3', 0)", "('conv_7x1_1x7', 0)"), "unknown DARTS operation"),
        (("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), "two different nodes"),
        (("('dil_conv_3x3', 2)", "('dil_conv_3x3', 0)"), "two different nodes"),
        (("('dil_conv_3x3', 2)", "('dil_conv_3x3', -1)"), "two different nodes"),
        (("normal_concat=[2, 3, 4, 5]", "normal_concat=[4, 5]"), "concatenates"),
        (("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 5)"), "concatenates"),
        ((", ('dil_conv_3x3', 2)]", "]"), "8 pairs"),
        (("('dil_conv_3x3', 2)", "('dil_conv_3x3', 2.0)"), "8 pairs"),
        (("('dil_conv_3x3', 2)", "('dil_conv_3x3', True)"), "8 pairs"),
        (("Genotype(", "Genotype(extra=1, "), "exactly the fields"),
        (("Genotype(", "Network("), "expected Genotype"),
        (("reduce_concat=", "normal_concat="), "exactly the fields"),
        (("Genotype(normal=", "Genotype(__import__('os').system('true'), normal="), "Genotype"),
        (("('sep_conv_3x3', 0)", "(__import__('os'), 0)"), "8 pairs"),
        (("Genotype(", "Genotype(("), "not a Genotype"),
    ],
)
def test_anything_but_a_valid_genotype_is_refused_with_one_reason(change, message):
    with pytest.raises(ArchitectureError, match=message.replace("(", r"\(")):
        SPACE.parse(DARTS_V2.replace(*change, 1))


def test_a_tuple_that_is_not_a_canonical_genotype_is_refused():
    arch = list(SPACE.parse(DARTS_V2))
    arch[0], arch[2] = arch[2], arch[0]  # inputs of node 2 out of order
    for bad in (tuple(arch), (0,) * 31, tuple(range(32)), "DARTS_V2"):
        with pytest.raises(ArchitectureError):
            check(bad)


# ---------------------------------------------------------------- operators


def test_samples_are_valid_seeded_and_cover_every_input_pair():
    archs = _sample(2000)
    assert all(check(a) == a for a in archs)
    assert archs[:50] == _sample(50)
    assert len(set(archs)) == len(archs)
    assert {(a[12], a[14]) for a in archs} == {(i, j) for j in range(5) for i in range(j)}
    ops = np.bincount([op for a in archs for _, _, _, op in _edges(a)], minlength=len(OPS))
    assert ops.min() > 0.9 * ops.mean()


def test_a_mutation_is_one_edge_change_and_one_of_the_neighbours():
    rng = np.random.default_rng(1)
    moved_input = changed_op = 0
    for arch in _sample(200):
        child = SPACE.mutate(arch, rng)
        assert child in SPACE.neighbours(arch)
        gone, new = _edges(arch) - _edges(child), _edges(child) - _edges(arch)
        assert len(gone) == len(new) == 1
        (_, node_a, source_a, _), (_, node_b, source_b, _) = gone.pop(), new.pop()
        assert node_a == node_b
        moved_input += source_a != source_b
        changed_op += source_a == source_b
    assert moved_input > 40 and changed_op > 40


def test_neighbours_are_every_single_edge_change():
    arch = SPACE.parse(DARTS_V2)
    near = SPACE.neighbours(arch)
    # 16 edges x 6 other ops, and per cell 2 x (0 + 1 + 2 + 3) other inputs
    assert len(near) == len(set(near)) == 16 * 6 + 2 * 2 * (0 + 1 + 2 + 3)
    assert arch not in near and all(check(n) == n for n in near)
    assert all(len(_edges(arch) - _edges(n)) == 1 for n in near)


def test_crossover_takes_each_node_from_one_parent():
    a, b = _sample(2, seed=3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        child = check(SPACE.crossover(a, b, rng))
        for k in range(8):
            node = child[4 * k : 4 * k + 4]
            assert node in (a[4 * k : 4 * k + 4], b[4 * k : 4 * k + 4])
    assert SPACE.crossover(a, a, rng) == a


def test_the_encoding_marks_the_sixteen_edges_and_tells_genotypes_apart():
    archs = _sample(500)
    codes = np.stack([SPACE.encode(a) for a in archs])
    assert codes.shape == (500, 28 * 7) and (codes.sum(axis=1) == 16).all()
    assert len({c.tobytes() for c in codes}) == 500
    near = SPACE.neighbours(archs[0])
    distance = (np.stack([SPACE.encode(n) for n in near]) != codes[0]).sum(axis=1) // 2
    assert (distance == 1).all()


# ---------------------------------------------------------------- one-shot view


def test_path_names_the_genotypes_edges_and_none_elsewhere():
    arch = SPACE.parse(DARTS_V2)
    path = SPACE.path(arch)
    assert len(path) == 28 and sum(p != 0 for p in path) == 16
    # node 2 of the normal cell: sep_conv_3x3 on edges 0 and 1
    assert path[:2] == (1 + OPS.index("sep_conv_3x3"),) * 2
    # node 5 of the reduction cell: skip_connect from node 2 and max_pool from node 1
    assert path[14 + 9 + 2] == 1 + OPS.index("skip_connect")
    assert path[14 + 9 + 1] == 1 + OPS.index("max_pool_3x3")


def test_derive_reads_back_a_path_and_follows_the_darts_rule():
    for arch in [SPACE.parse(DARTS_V2), *_sample(20)]:
        alpha = np.eye(8)[list(SPACE.path(arch))]
        assert SPACE.derive(alpha) == arch
    # an edge is ranked by its strongest operation other than none, however strong none is
    alpha = np.full((28, 8), 0.1)
    alpha[0] = [0.9, 0.02, 0, 0, 0.08, 0, 0, 0]  # mostly none; sep_conv_3x3 0.08
    alpha[1] = [0.0, 0, 0, 0.3, 0, 0, 0, 0.7]  # dil_conv_5x5 0.7
    arch = SPACE.derive(alpha)
    assert arch[:4] == (0, OPS.index("sep_conv_3x3"), 1, OPS.index("dil_conv_5x5"))
    with pytest.raises(ConfigError, match="28 x 8"):
        SPACE.derive(np.zeros((14, 8)))


# ---------------------------------------------------------------- sizes


def test_forward_flops_and_the_typical_genotype_come_from_the_analytic_counts():
    arch = SPACE.parse(DARTS_V2)
    size = dict(channels=36, cells_per_stage=6, num_classes=10, input_size=32, input_channels=3)
    assert SPACE.forward_flops(arch, **size) == params_and_flops(arch, **size)[1]
    typical = SPACE.typical()
    flops = sorted(params_and_flops(a)[1] for a in _sample(1000))
    assert flops[200] < params_and_flops(check(typical))[1] < flops[800]
