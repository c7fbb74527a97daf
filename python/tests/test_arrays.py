"""NumPy in and out: data sets, dtypes, orders and shapes, and clear refusals."""

import numpy as np
import pytest

import somnet


def test_mnist_arrays_have_the_documented_shapes_and_ranges(mnist_test):
    images, labels = mnist_test
    assert images.shape == (200, 1, 28, 28) and images.dtype == np.float32
    assert labels.shape == (200,) and labels.dtype == np.uint8
    assert 0.0 <= images.min() and images.max() <= 1.0
    # The first MNIST test labels (LeCun's t10k-labels-idx1-ubyte): 7 2 1 0 4 1 4 9 5 9.
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_any_numeric_dtype_and_memory_order_gives_the_same_outputs(root, mnist_test):
    model = somnet.load(root / "tests/golden/mlp.h5")
    images, _ = mnist_test
    reference = model.predict(images)
    assert reference.shape == (200, 10) and reference.dtype == np.float32
    as_bytes = np.round(images * 255).astype(np.uint8)
    variants = {
        "float64": images.astype(np.float64),
        "flat": images.reshape(200, -1),
        "fortran": np.asfortranarray(images.reshape(200, -1)),
        "strided": np.repeat(images, 2, axis=0)[::2],
        "list": images[:3].tolist(),
    }
    for name, x in variants.items():
        got = model.predict(x)
        np.testing.assert_array_equal(got, reference[: len(got)], err_msg=name)
    # Integer pixels are taken as the numbers they are (not rescaled): the caller says what they mean.
    np.testing.assert_array_equal(model.predict(as_bytes), model.predict(as_bytes.astype(np.float32)))


def test_labels_of_any_integer_dtype(root, mnist_test):
    model = somnet.load(root / "tests/golden/mlp.h5")
    images, labels = mnist_test
    acc = model.accuracy(images, labels)
    assert acc == model.accuracy(images, labels.astype(np.int64)) == model.accuracy(images, labels.astype(float))
    assert acc == pytest.approx(np.mean(np.argmax(model.predict(images), 1) == labels))


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((2, 1, 28, 28), dtype=np.complex64), "dtype complex64 is not numeric"),
        (np.array([["a"] * 784]), "is not numeric"),
        (np.zeros((2, 1, 27, 28), dtype=np.float32), "does not fit the network's input (1, 28, 28)"),
        (np.full((1, 784), np.nan, dtype=np.float32), "NaN or infinite"),
    ],
)
def test_unusable_images_are_refused_by_argument_name(root, bad, message):
    model = somnet.load(root / "tests/golden/mlp.h5")
    with pytest.raises(somnet.SomnetError, match="images: ") as e:
        model.predict(bad)
    assert message in str(e.value)


def test_bad_labels_are_refused(root, mnist_test):
    model = somnet.load(root / "tests/golden/mlp.h5")
    images, labels = mnist_test
    with pytest.raises(somnet.SomnetError, match="199 labels for 200 images"):
        model.accuracy(images, labels[:-1])
    with pytest.raises(somnet.SomnetError, match="whole numbers"):
        model.accuracy(images, labels + 0.5)
