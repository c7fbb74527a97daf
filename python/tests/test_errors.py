"""Every somnet error is a Python exception of the right class with the library's message."""

import pytest

import somnet


def test_a_missing_file_is_a_file_error_and_an_oserror(tmp_path):
    with pytest.raises(somnet.SomnetFileError) as e:
        somnet.load(tmp_path / "absent.h5")
    assert isinstance(e.value, OSError) and isinstance(e.value, ValueError)
    assert "absent.h5" in str(e.value)


def test_a_file_that_is_not_a_model_names_the_file(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("not HDF5")
    with pytest.raises(somnet.SomnetFileError, match="notes.h5"):
        somnet.load(path)


def test_bad_knobs_name_the_key_the_value_and_what_is_expected(root, calibration):
    model = somnet.load(root / "tests/golden/mlp.h5")
    with pytest.raises(somnet.SomnetError, match="reset = sideways is invalid: expected subtract or zero"):
        somnet.convert(model, calibration, reset="sideways")
    with pytest.raises(somnet.SomnetError, match="option key"):
        somnet.convert(model, calibration, colour="blue")
    with pytest.raises(somnet.SomnetError, match="percentile"):
        somnet.convert(model, calibration, percentile=250)
    snn = somnet.convert(model, calibration)
    with pytest.raises(somnet.SomnetError, match="steps = 0"):
        snn.evaluate(calibration[:2], [0, 1], steps=0)


def test_convert_refuses_what_is_not_a_model(calibration):
    with pytest.raises(somnet.SomnetError, match="expected a somnet.Model"):
        somnet.convert("model.h5", calibration)


def test_unknown_dataset_and_split_are_refused():
    with pytest.raises(somnet.SomnetError, match="dataset"):
        somnet.datasets.load("imagenet-22k")
    with pytest.raises(somnet.SomnetError, match="split 'validation'"):
        somnet.datasets.load("mnist", "validation")
