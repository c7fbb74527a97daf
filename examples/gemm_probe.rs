use ndarray::Array2;
use std::time::Instant;
fn main() {
    for (m, k, n) in [
        (100usize, 784usize, 1200usize),
        (100, 1200, 1200),
        (1200, 100, 1200),
        (57600, 9, 16),
    ] {
        let a = Array2::<f32>::from_shape_fn((m, k), |(i, j)| ((i * 7 + j) % 13) as f32 * 0.01);
        let b = Array2::<f32>::from_shape_fn((k, n), |(i, j)| ((i + j * 3) % 11) as f32 * 0.01);
        let reps = 50;
        let t = Instant::now();
        let mut s = 0.0;
        for _ in 0..reps {
            let c = a.dot(&b);
            s += c[[0, 0]];
        }
        let dt = t.elapsed().as_secs_f64() / reps as f64;
        println!(
            "{m}x{k}x{n}: {:.3} ms, {:.1} GFLOP/s ({s})",
            dt * 1e3,
            2.0 * (m * k * n) as f64 / dt / 1e9
        );
    }
}
