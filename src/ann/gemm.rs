//! Matrix products, parallel and deterministic.
//!
//! The product is split into blocks of rows (or of columns when there are few rows) and each block
//! is one single-threaded `matrixmultiply` call (through ndarray). Every element of the result is
//! computed whole inside one call, with the library's fixed order over k (fixed-size slices of k,
//! the same whatever the block), so the result is bit-identical on 1 or N threads and for any
//! block size. The blocks are therefore sized for speed: about two per thread, never under 64
//! rows or 256 columns, because every call packs the whole other operand again (with 64-row
//! blocks of a 1 000-row product, re-packing the weights took a sixth of training's time). When
//! only k is long (few rows and columns), fixed slices of k are multiplied in parallel and added
//! in slice order; one thread does the same slices, so the sums agree there too.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// Fewest rows per block when splitting by rows.
const ROW_BLOCK: usize = 64;
/// Fewest columns per block when splitting by columns (a multiple of 64).
const COL_BLOCK: usize = 256;
/// Below this many multiply-adds a product runs on one thread.
const PARALLEL_MIN_WORK: usize = 1 << 18;

/// `c = alpha·a·b + beta·c`.
///
/// ```
/// use ndarray::array;
/// let (a, b) = (array![[1.0f32, 2.0], [3.0, 4.0]], array![[5.0f32], [6.0]]);
/// let mut c = ndarray::Array2::zeros((2, 1));
/// somnet::ann::gemm::gemm(1.0, a.view(), b.view(), 0.0, c.view_mut());
/// assert_eq!(c, array![[17.0], [39.0]]);
/// ```
pub fn gemm(
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    debug_assert_eq!(b.nrows(), k);
    debug_assert_eq!(c.dim(), (m, n));
    let threads = rayon::current_num_threads();
    let serial = m * n * k < PARALLEL_MIN_WORK || threads == 1;
    if m >= 2 * ROW_BLOCK {
        let rows = if serial {
            m
        } else {
            m.div_ceil(2 * threads).next_multiple_of(16).max(ROW_BLOCK)
        };
        let blocks: Vec<(ArrayView2<f32>, ArrayViewMut2<f32>)> = a
            .axis_chunks_iter(Axis(0), rows)
            .zip(c.axis_chunks_iter_mut(Axis(0), rows))
            .collect();
        let run = |(ab, mut cb): (ArrayView2<f32>, ArrayViewMut2<f32>)| {
            ndarray::linalg::general_mat_mul(alpha, &ab, &b, beta, &mut cb)
        };
        if serial {
            blocks.into_iter().for_each(run);
        } else {
            blocks.into_par_iter().for_each(run);
        }
    } else if n >= 2 * COL_BLOCK {
        let width = if serial {
            n
        } else {
            n.div_ceil(2 * threads).next_multiple_of(64).max(COL_BLOCK)
        };
        let blocks: Vec<(ArrayView2<f32>, ArrayViewMut2<f32>)> = b
            .axis_chunks_iter(Axis(1), width)
            .zip(c.axis_chunks_iter_mut(Axis(1), width))
            .collect();
        let run = |(bb, mut cb): (ArrayView2<f32>, ArrayViewMut2<f32>)| {
            ndarray::linalg::general_mat_mul(alpha, &a, &bb, beta, &mut cb)
        };
        if serial {
            blocks.into_iter().for_each(run);
        } else {
            blocks.into_par_iter().for_each(run);
        }
    } else if k >= 2 * K_BLOCK {
        // Few outputs, long sums (a convolution's weight gradient): partial products over fixed
        // slices of k, added in slice order. The split depends on k alone, never on the threads.
        let partial = |i: usize| {
            let r = i * K_BLOCK..((i + 1) * K_BLOCK).min(k);
            let mut p = ndarray::Array2::zeros((m, n));
            ndarray::linalg::general_mat_mul(
                1.0,
                &a.slice(ndarray::s![.., r.clone()]),
                &b.slice(ndarray::s![r, ..]),
                0.0,
                &mut p,
            );
            p
        };
        let slices = 0..k.div_ceil(K_BLOCK);
        let partials: Vec<ndarray::Array2<f32>> = if serial {
            slices.map(partial).collect()
        } else {
            slices.into_par_iter().map(partial).collect()
        };
        c.map_inplace(|v| *v *= beta);
        for p in partials {
            c.scaled_add(alpha, &p);
        }
    } else {
        ndarray::linalg::general_mat_mul(alpha, &a, &b, beta, &mut c);
    }
}

/// Slice of k per partial product when only k is large.
const K_BLOCK: usize = 4096;

/// `a·b` as a new matrix.
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> ndarray::Array2<f32> {
    let mut c = ndarray::Array2::zeros((a.nrows(), b.ncols()));
    gemm(1.0, a, b, 0.0, c.view_mut());
    c
}

/// Column sums of `a` (a fixed serial order over rows, so deterministic).
pub fn column_sums(a: ArrayView2<'_, f32>) -> ndarray::Array1<f32> {
    let mut out = ndarray::Array1::zeros(a.ncols());
    for row in a.rows() {
        out += &row;
    }
    out
}
