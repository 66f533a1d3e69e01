"""numpy arrays <-> `simmesh.v1.Vector` / `VectorBatch` (packed little-endian float32).

Arrays of any real dtype are accepted and converted to float32; shapes are checked, and values
that are not finite (NaN, infinity, or float64 beyond float32's range) are refused, since a
similarity index cannot rank them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simmesh_proto.v1 import common_pb2

WIRE_DTYPE = np.dtype("<f4")
_ITEM = WIRE_DTYPE.itemsize
# How complaints name an array of each rank: the shape expected, and what needs a dimension.
_RANKS = {1: ("a 1-D array", "a vector"), 2: ("a 2-D array (rows, dimension)", "vectors")}


def as_float32_matrix(array: npt.ArrayLike) -> np.ndarray:
    """A C-contiguous little-endian float32 matrix (rows, dimension) with finite values."""
    return _as_wire_array(array, ndim=2)


def as_float32_vector(array: npt.ArrayLike) -> np.ndarray:
    """A C-contiguous little-endian float32 vector with finite values."""
    return _as_wire_array(array, ndim=1)


def to_vector(array: npt.ArrayLike) -> common_pb2.Vector:
    vector = as_float32_vector(array)
    return common_pb2.Vector(dimension=vector.shape[0], data=vector.tobytes())


def to_vector_batch(array: npt.ArrayLike) -> common_pb2.VectorBatch:
    matrix = as_float32_matrix(array)
    rows, dimension = matrix.shape
    return common_pb2.VectorBatch(dimension=dimension, count=rows, data=matrix.tobytes())


def from_vector(vector: common_pb2.Vector, *, copy: bool = True) -> np.ndarray:
    """The vector as a float32 array. `copy=False` returns a read-only view of the message bytes."""
    _check_size(len(vector.data), vector.dimension, 1, "Vector")
    return _decode(vector.data, (vector.dimension,), copy)


def from_vector_batch(batch: common_pb2.VectorBatch, *, copy: bool = True) -> np.ndarray:
    """The batch as a (count, dimension) float32 array."""
    _check_size(len(batch.data), batch.dimension, batch.count, "VectorBatch")
    return _decode(batch.data, (batch.count, batch.dimension), copy)


def _as_wire_array(array: npt.ArrayLike, ndim: int) -> np.ndarray:
    """`array` as wire float32, checked: real, finite, `ndim`-D, with at least one dimension."""
    values = np.asarray(array)
    if values.dtype.kind not in "fiu":
        raise TypeError(f"vectors must hold real numbers, got dtype {values.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        wire = np.ascontiguousarray(values, dtype=WIRE_DTYPE)
    if not np.isfinite(wire).all():
        raise ValueError("vectors must be finite (no NaN or infinity, nothing beyond float32 range)")
    shape, subject = _RANKS[ndim]
    if wire.ndim != ndim:
        raise ValueError(f"expected {shape}, got shape {wire.shape}")
    if wire.shape[-1] == 0:
        raise ValueError(f"{subject} must have at least one dimension")
    return wire


def _check_size(size: int, dimension: int, rows: int, kind: str) -> None:
    if dimension < 0 or rows < 0 or (dimension == 0 and rows > 0):
        raise ValueError(f"{kind} has dimension {dimension} and {rows} rows")
    if size != rows * dimension * _ITEM:
        raise ValueError(f"{kind} of {rows} x {dimension} float32 needs {rows * dimension * _ITEM} bytes, has {size}")


def _decode(data: bytes, shape: tuple[int, ...], copy: bool) -> np.ndarray:
    array = np.frombuffer(data, dtype=WIRE_DTYPE).reshape(shape)
    if not WIRE_DTYPE.isnative or copy:
        return array.astype(np.float32)
    return array
