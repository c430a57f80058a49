#!/usr/bin/python3
"""Writes the small HDF5 fixtures of tests/data with h5py (Debian's
python3-h5py). Run once by hand when a fixture changes; the outputs are
committed, so the test suite does not need Python."""
import h5py
import numpy as np

def matrix(path, X, y=None, **attrs):
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=X)
        if y is not None:
            f.create_dataset("y", data=y)
        for k, v in attrs.items():
            f.attrs[k] = v

# /X holds strings where numbers are expected
with h5py.File("string_x.h5", "w") as f:
    f.create_dataset("X", data=np.array([[b"a", b"b"], [b"c", b"d"]]))
    f.create_dataset("y", data=np.array([0, 1], dtype=np.int32))

# X and y of different lengths
matrix("xy_mismatch.h5", np.zeros((10, 3), np.float32), np.zeros(9, np.int32))

# zero rows
matrix("zero_rows.h5", np.zeros((0, 3), np.float32), np.zeros(0, np.int32))

# every numeric type, converted to float32 on reading
with h5py.File("types.h5", "w") as f:
    for t in ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"]:
        f.create_dataset("col_" + t, data=np.array([0, 1, 2, 100], dtype=t))
    f.create_dataset("big", data=np.array([2**40, -2**40], dtype="i8"))
    f.create_dataset("names", data=np.array([b"alpha", b"beta", b"alpha"]))
    vs = h5py.string_dtype()
    f.create_dataset("vnames", data=np.array(["x", "yy", "x"], dtype=object), dtype=vs)
    f.create_dataset("scalar", data=3.5)
    f.create_dataset("cube", data=np.arange(24, dtype="f4").reshape(2, 3, 4))
    f.create_dataset("strings2d", data=np.array([[b"a", b"b"]]))

# chunked + gzip + shuffle, many rows, for hyperslab row ranges
with h5py.File("chunked.h5", "w") as f:
    X = np.arange(10000 * 5, dtype="f8").reshape(10000, 5)
    f.create_dataset("X", data=X, chunks=(1000, 5), compression="gzip", shuffle=True)
    f.create_dataset("y", data=np.arange(10000) % 3, dtype="i4")
    f["X"].attrs["feature_names"] = ["a", "b", "c", "d", "e"]
    f["y"].attrs["target_names"] = [b"r", b"g", b"b"]

# NaN and Inf in a matrix
matrix("nan_inf.h5", np.array([[1, np.nan], [np.inf, 2], [3, -np.inf]], np.float32),
       np.array([0.5, 1.5, np.nan], np.float32))

# class code outside target_names
with h5py.File("bad_codes.h5", "w") as f:
    f.create_dataset("X", data=np.zeros((3, 2), np.float32))
    f.create_dataset("y", data=np.array([0, 1, 5], np.int32))
    f["y"].attrs["target_names"] = ["a", "b"]
