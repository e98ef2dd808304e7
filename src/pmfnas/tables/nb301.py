"""NAS-Bench-301 through YAHPO Gym's surrogate: a DARTS genotype's learning curve on CIFAR-10.

What the numbers are
--------------------
NAS-Bench-301 (Siems et al. 2020) trained about 60,000 DARTS-space architectures on CIFAR-10 for
98 epochs and recorded their learning curves (figshare 13286105). YAHPO Gym (Pfisterer et al.
2022) fitted a neural network to those curves and ships it as ONNX (``model_v2.onnx``, scenario
``nb301``). :class:`NB301Surrogate` evaluates that network: every value is a **surrogate's
prediction** for a genotype and an epoch (1..98), never a measurement, and deterministic (the
same inputs give the same outputs; the ``noisy`` variant is not used). There is no test accuracy:
the surrogate predicts the validation split only.

:meth:`NB301Surrogate.predict` returns, per (genotype, epoch):

- ``val_acc``: validation accuracy in **percent** (0..100), the convention of the NB201 tables
  (:mod:`pmfnas.tables.nb201`). The network itself returns a fraction, clipped to [0, 1].
- ``val_loss``: validation cross-entropy (clipped at 0 by the network).
- ``runtime``: seconds of training up to that epoch: about 200 s at epoch 1 and 4,560 s at
  epoch 98 for DARTS-V2; 4,988 s on average (3,839-6,307 s) at epoch 98 over 200 uniformly
  drawn genotypes. Caution, a surrogate's artifact: the predicted time rises with the epoch
  until about epoch 90, then flattens, and may dip slightly (on those 200 genotypes, epoch 98 is
  below epoch 97 for 109, by at most 283 s below the curve's peak), so it is not strictly
  monotone in the epoch.

The network's fourth output, ``runtime_increase`` (about 50 s for DARTS-V2 at every epoch), is
not returned.

How the inputs are built (learned from YAHPO Gym's code, slds-lmu/yahpo_gym)
------------------------------------------------------------------------------
- ``yahpo_gym/yahpo_gym/benchmarks/nb301.py``: the scenario's ``cat_names`` fix the order of
  the 34 ``x_cat`` columns: ``edge_normal_0`` .. ``edge_normal_13``, ``edge_reduce_0`` ..
  ``edge_reduce_13`` (numeric order, not the alphabetical key order of ``encoding_v2.json``),
  then ``inputs_node_normal_3/4/5`` and ``inputs_node_reduce_3/4/5`` (all names prefixed
  ``NetworkSelectorDatasetInfo_COLON_darts_COLON_``); ``cont_names`` is ``["epoch"]``;
  ``y_names`` is ``val_accuracy, val_cross_entropy, runtime, runtime_increase``; there is no
  dataset hyperparameter (one instance, CIFAR10).
- ``yahpo_gym/yahpo_gym/benchmark_set.py`` (``_config_to_xs``, ``_integer_encode``,
  ``objective_function``): a categorical hyperparameter a configuration leaves out (an inactive
  edge) takes the value ``'#na#'``; every categorical value is replaced by its integer code from
  the encoding file (int32); ``x_cont`` is the raw epoch as float32; the session's output row
  is returned as is, in ``y_names`` order.
- The ONNX graph itself holds all the scaling (read with ``onnx``): the epoch is mapped to
  [-0.98, 0.98] by ``2 * (0.01 + 0.98 * (epoch - 1) / 97) - 1``, and each sigmoid output is
  mapped back through the inverse of a [0.01, 0.99] range scaling, then of a standardisation,
  then (``runtime``, ``runtime_increase``) of a log; accuracy is clipped to [0, 1], the others
  at 0. These are the inverses of ``ContTransformerRange`` (``x_range="-1-1"`` for the epoch),
  ``ContTransformerStandardize`` and ``ContTransformerLog`` of
  ``yahpo_train/yahpo_train/cont_scalers.py``. So nothing is rescaled here except the
  accuracy's fraction → percent.
- ``config_space_v2.json``: node 2 always takes nodes 0 and 1; ``inputs_node_<cell>_<k>`` (k =
  3, 4, 5) is ``"a_b"``, the two source nodes of node k, and activates ``edge_<cell>_e`` for
  exactly the edges from a and b, numbered as :func:`pmfnas.spaces.darts.genotype.edge_index`
  numbers them (node 2: edges 0-1, node 3: 2-4, node 4: 5-8, node 5: 9-13, each node's from
  source 0 up). Loading checks this against the file's conditions.

Checks (``tests/tables/test_nb301.py``): DARTS-V2 gives 61.4 / 76.8 / 88.6 / 92.9 % at
epochs 1 / 10 / 50 / 98, the values YAHPO Gym publishes (0.61 / 0.77 / 0.89 / 0.93). On the
725 genotypes of NASLib's ``zc_nasbench301.json`` the epoch-98 predictions have Spearman 0.59
with NASLib's ``val_accuracy`` (0.70 points lower on average); the json's alphabetical column
order would give 0.51 and 63.3 % for DARTS-V2 at epoch 1.
"""

from __future__ import annotations

import ast
import json
import operator
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pmfnas.errors import ArchitectureError, ConfigError, DataError, FidelityError
from pmfnas.spaces.darts import genotype
from pmfnas.types import Arch

__all__ = [
    "CAT_NAMES",
    "FILES",
    "MAX_EPOCH",
    "MIN_EPOCH",
    "TARGETS",
    "NB301Surrogate",
    "default_source",
    "naslib_genotype",
    "surrogate_folder",
]

MIN_EPOCH = 1
MAX_EPOCH = 98
"""NAS-Bench-301's training schedule: the surrogate's epochs are 1..98."""

MODEL_FILE = "model_v2.onnx"
ENCODING_FILE = "encoding_v2.json"
CONFIG_SPACE_FILE = "config_space_v2.json"
FILES = (MODEL_FILE, ENCODING_FILE, CONFIG_SPACE_FILE)
"""What a surrogate folder holds (YAHPO Gym's ``nb301`` files, version 2)."""

TARGETS = ("val_acc", "val_loss", "runtime")
"""The keys of :meth:`NB301Surrogate.predict`'s answer."""

_PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"
_INPUT_NODES = (3, 4, 5)
"""The nodes whose two sources are a hyperparameter (node 2 always takes nodes 0 and 1)."""
CAT_NAMES: tuple[str, ...] = (
    *(
        f"{_PREFIX}edge_{cell}_{edge}"
        for cell in genotype.CELLS
        for edge in range(genotype.EDGES_PER_CELL)
    ),
    *(f"{_PREFIX}inputs_node_{cell}_{node}" for cell in genotype.CELLS for node in _INPUT_NODES),
)
"""The 34 ``x_cat`` columns in the network's order (YAHPO Gym's ``cat_names`` for nb301)."""
_EDGE_COLUMNS = len(genotype.CELLS) * genotype.EDGES_PER_CELL
_NA = "#na#"
_CHUNK = 65536
"""Rows per ONNX run: large requests are cut into runs of this size to bound memory."""


FOLDER = Path("darts") / "yahpo_nb301"
"""Where the surrogate's files lie inside a data folder."""


def default_source() -> Path:
    """``$PMFNAS_DATA/darts/yahpo_nb301``; a :class:`DataError` when ``PMFNAS_DATA`` is not set."""
    data = os.environ.get("PMFNAS_DATA")
    if not data:
        raise DataError(f"PMFNAS_DATA is not set: set it to the data folder that holds {FOLDER}/")
    return Path(data) / FOLDER


def surrogate_folder(data_dir: Path | None) -> Path | None:
    """The surrogate's folder inside the data folder ``data_dir``; ``None`` (no data folder
    given) lets :class:`NB301Surrogate` read :func:`default_source`."""
    return data_dir / FOLDER if data_dir else None


class NB301Surrogate:
    """YAHPO Gym's NAS-Bench-301 surrogate, read from a folder with :data:`FILES`.

    One ONNX Runtime session on one thread serves every call (deterministic and cheap: 1,000
    rows take about 40 ms, one row about 1 ms). A pickled surrogate carries only its folder and
    opens a new session when unpickled.
    """

    def __init__(self, source: Path | str | None = None) -> None:
        self.source = Path(source) if source is not None else default_source()
        """The folder the files were read from."""
        folder = self.source
        if not folder.is_dir():
            raise DataError(f"{folder}: no such NAS-Bench-301 surrogate folder")
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise DataError(
                f"{folder}: not a YAHPO Gym nb301 folder (missing: {', '.join(missing)})"
            )
        encoding = _read_json(folder / ENCODING_FILE)
        self._na_codes, self._op_codes, self._input_codes = _codes(encoding, folder)
        _check_config_space(_read_json(folder / CONFIG_SPACE_FILE), folder)
        self._session = _open_session(folder / MODEL_FILE)

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (type(self), (self.source,))

    def __repr__(self) -> str:
        return f"NB301Surrogate({str(self.source)!r})"

    def encode(self, archs: Sequence[Arch]) -> np.ndarray:
        """The ``x_cat`` rows of ``archs``: int32, one row of :data:`CAT_NAMES` per genotype,
        each edge no node uses coded as ``'#na#'``; an :class:`ArchitectureError` for anything
        not a canonical DARTS genotype."""
        values = _as_array(archs)
        rows = np.tile(self._na_codes, (len(values), 1))
        index = np.arange(len(values))
        for cell in range(len(genotype.CELLS)):
            for node in range(genotype.NODES):
                start = genotype.node_slice(cell, node).start
                source_a, op_a, source_b, op_b = (values[:, start + k] for k in range(4))
                first = cell * genotype.EDGES_PER_CELL + genotype.edge_index(node, 0)
                rows[index, first + source_a] = self._op_codes[op_a]
                rows[index, first + source_b] = self._op_codes[op_b]
                if node > 0:
                    column = _EDGE_COLUMNS + cell * len(_INPUT_NODES) + node - 1
                    rows[:, column] = self._input_codes[node - 1][source_a, source_b]
        return rows

    def predict(self, archs: Sequence[Arch], epochs: int | Sequence[int]) -> dict[str, np.ndarray]:
        """The surrogate's :data:`TARGETS` (float64 arrays, one value per genotype) after
        ``epochs`` of training: one epoch for all, or one per genotype. Epochs must be whole
        numbers in ``MIN_EPOCH..MAX_EPOCH``, else a :class:`FidelityError`."""
        x_cat = self.encode(archs)
        x_cont = _epochs(epochs, len(x_cat))
        if len(x_cat) == 0:
            return {key: np.empty(0) for key in TARGETS}
        outputs = [
            self._session.run(
                None, {"x_cat": x_cat[i : i + _CHUNK], "x_cont": x_cont[i : i + _CHUNK]}
            )[0]
            for i in range(0, len(x_cat), _CHUNK)
        ]
        out = np.concatenate(outputs).astype(np.float64)
        return {"val_acc": 100.0 * out[:, 0], "val_loss": out[:, 1], "runtime": out[:, 2]}


def naslib_genotype(key: str) -> Arch:
    """The genotype of a key of NASLib's ``zc_nasbench301.json``: ``[[8 pairs], [8 pairs]]``,
    the normal then the reduction cell, each pair ``(input, op id)`` of one edge, two per node,
    op ids in :data:`~pmfnas.spaces.darts.genotype.OPS` order (NASLib's DARTS primitives without
    ``none``). Checked on its 725 genotypes: its ``params`` rank exactly as ours of 8 cells at
    C=32 (Spearman 1.000). Anything else is an :class:`ArchitectureError`."""
    try:
        cells = ast.literal_eval(key)
        values: list[int] = []
        for cell in cells:
            for node in range(genotype.NODES):
                (a, op_a), (b, op_b) = cell[2 * node : 2 * node + 2]
                values.extend(genotype.node_pair(a, op_a, b, op_b))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ArchitectureError(f"not a NASLib DARTS key: {key[:80]!r}") from None
    return genotype.check(tuple(values))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: unreadable JSON ({error})") from None


def _codes(encoding: Any, folder: Path) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Per column the code of ``'#na#'``; per op id its code (the same in every edge column:
    checked); per input node a table ``[a, b]`` → the code of ``"a_b"`` (-1 where none)."""
    where = f"{folder / ENCODING_FILE}"
    try:
        na = np.array([encoding[name][_NA] for name in CAT_NAMES], dtype=np.int32)
        edge_codes = {
            tuple(encoding[name][op] for op in genotype.OPS) for name in CAT_NAMES[:_EDGE_COLUMNS]
        }
        inputs = []
        for node in _INPUT_NODES:
            table = np.full((node, node), -1, dtype=np.int32)
            for a in range(node):
                for b in range(a + 1, node):
                    codes = {
                        encoding[f"{_PREFIX}inputs_node_{cell}_{node}"][f"{a}_{b}"]
                        for cell in genotype.CELLS
                    }
                    if len(codes) != 1:
                        raise DataError(f"{where}: the cells code the inputs of node {node} apart")
                    table[a, b] = codes.pop()
            inputs.append(table)
    except (KeyError, TypeError):
        raise DataError(
            f"{where}: not YAHPO Gym's nb301 encoding (a column or value is missing)"
        ) from None
    if len(edge_codes) != 1:
        raise DataError(f"{where}: the edge columns code the operations differently")
    return na, np.array(edge_codes.pop(), dtype=np.int32), inputs


def _check_config_space(space: Any, folder: Path) -> None:
    """The config space must activate, for each ``inputs_node`` value ``"a_b"``, exactly the
    edges from a and b as :func:`genotype.edge_index` numbers them, and offer our operations."""
    where = f"{folder / CONFIG_SPACE_FILE}"
    try:
        choices = {hp["name"]: hp.get("choices") for hp in space["hyperparameters"]}
        active: dict[tuple[str, str], set[str]] = {}
        for condition in space["conditions"]:
            for value in condition["values"]:
                active.setdefault((condition["parent"], value), set()).add(condition["child"])
    except (KeyError, TypeError):
        raise DataError(f"{where}: not a ConfigSpace JSON file") from None
    for name in CAT_NAMES[:_EDGE_COLUMNS]:
        if set(choices.get(name) or ()) != set(genotype.OPS):
            raise DataError(f"{where}: {name} does not offer the DARTS operations")
    for cell in genotype.CELLS:
        for node in _INPUT_NODES:
            parent = f"{_PREFIX}inputs_node_{cell}_{node}"
            pairs = [f"{a}_{b}" for a in range(node) for b in range(a + 1, node)]
            if sorted(choices.get(parent) or ()) != sorted(pairs):
                raise DataError(f"{where}: {parent} does not choose two of nodes 0..{node - 1}")
            for pair in pairs:
                sources = map(int, pair.split("_"))
                edges = {
                    f"{_PREFIX}edge_{cell}_{genotype.edge_index(node - 2, s)}" for s in sources
                }
                if active.get((parent, pair), set()) != edges:
                    raise DataError(
                        f"{where}: {parent} = {pair} activates other edges than the DARTS "
                        "numbering's"
                    )


def _open_session(path: Path) -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError(
            "the NAS-Bench-301 surrogate needs onnxruntime: pip install 'pmfnas[onnx]'"
        ) from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own exception types for a bad file
        text = str(error).strip()
        message = text.splitlines()[0] if text else type(error).__name__
        raise DataError(f"{path}: not a readable ONNX model ({message})") from None
    inputs = {i.name: i.shape[-1] for i in session.get_inputs()}
    outputs = [o.shape[-1] for o in session.get_outputs()]
    if inputs != {"x_cat": len(CAT_NAMES), "x_cont": 1} or outputs != [4]:
        raise DataError(
            f"{path}: not YAHPO Gym's nb301 model (expects x_cat[34], x_cont[1] -> 4 outputs)"
        )
    return session


def _as_array(archs: Sequence[Arch]) -> np.ndarray:
    """``archs`` checked, as an int64 array of shape (n, 32)."""
    if isinstance(archs, tuple) and archs and not isinstance(archs[0], tuple):
        raise ArchitectureError("expected a sequence of DARTS genotypes, got one genotype")
    checked = [genotype.check(arch) for arch in archs]
    if not checked:
        return np.empty((0, genotype.LENGTH), dtype=np.int64)
    return np.array(checked, dtype=np.int64)


def _epochs(epochs: int | Sequence[int], count: int) -> np.ndarray:
    """The ``x_cont`` column: float32, shape (count, 1)."""
    scalar = np.ndim(epochs) == 0
    values = [epochs] if scalar else list(epochs)
    if not scalar and len(values) != count:
        raise FidelityError(f"{len(values)} epochs given for {count} genotypes")
    checked = []
    for value in values:
        try:
            if isinstance(value, bool):
                raise TypeError
            epoch = operator.index(value)
        except TypeError:
            raise FidelityError(f"an epoch must be a whole number, got {value!r}") from None
        if not MIN_EPOCH <= epoch <= MAX_EPOCH:
            raise FidelityError(f"NAS-Bench-301 epochs are {MIN_EPOCH}..{MAX_EPOCH}, got {epoch}")
        checked.append(epoch)
    column = np.array(checked, dtype=np.float32).reshape(-1, 1)
    return np.repeat(column, count, axis=0) if scalar else column
