"""The coefficients of somnet's φ(a) = (1 − e^(−a))/a polynomial on [0, 1] (`src/neuron/conductance.rs`).

A degree-6 polynomial with (near) minimax relative error on [0, 1]: a least-squares fit on a dense
grid, reweighted by Lawson's iteration until the weighted error levels out (the discrete minimax),
then rounded to f32. Prints the coefficients, the fit's relative error in f64, and the error of the
f32 evaluation by Estrin's scheme as the Rust code does it (in ulp of φ).

    python3 tools/phi_minimax.py          # needs numpy
"""
import numpy as np

DEGREE = 6


def phi(a):
    a = np.asarray(a, dtype=np.float64)
    out = np.ones_like(a)
    nz = a != 0
    out[nz] = -np.expm1(-a[nz]) / a[nz]
    return out


def fit(degree):
    x = np.linspace(0.0, 1.0, 20001)
    y = phi(x)
    v = np.vander(x, degree + 1, increasing=True)
    w = np.ones_like(x)
    for _ in range(200):
        scale = w / y
        c, *_ = np.linalg.lstsq(v * scale[:, None], y * scale, rcond=None)
        err = np.abs(v @ c - y) / y
        w = np.maximum(w * err / err.sum() * len(x), 1e-12)
    return c, np.max(np.abs(v @ c - y) / y)


def estrin6(c, a):
    f = np.float32
    a2 = f(a * a)
    a4 = f(a2 * a2)
    p01 = f(c[0] + f(c[1] * a))
    p23 = f(c[2] + f(c[3] * a))
    p45 = f(c[4] + f(c[5] * a))
    p0_3 = f(p01 + f(a2 * p23))
    p4_6 = f(p45 + f(a2 * c[6]))
    return f(p0_3 + f(a4 * p4_6))


def main():
    c, rel = fit(DEGREE)
    c32 = c.astype(np.float32)
    a = np.linspace(0.0, 1.0, 200001).astype(np.float32)
    got = np.array([estrin6(c32, x) for x in a[::50]], dtype=np.float64)
    want = phi(a[::50].astype(np.float64))
    ulp = np.spacing(want.astype(np.float32)).astype(np.float64)
    # numpy's repr of an f32 is its shortest round-trip form, as the Rust literals are written.
    print("coefficients (f32):", ", ".join(repr(x) for x in c32))
    print(f"f64 fit: max relative error {rel:.2e}")
    print(f"f32 evaluation: max {np.max(np.abs(got - want) / ulp):.2f} ulp")


if __name__ == "__main__":
    main()
