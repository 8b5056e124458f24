//! NumPy `.npy` reading and writing.
