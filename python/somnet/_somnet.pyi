# Type stubs of the extension module somnet._somnet (python/src). The public API is in the pure
# Python modules beside this file; these are the calls they make.
from typing import Any, Callable, Optional

import numpy as np
import numpy.typing as npt

__version__: str
CONVERT_KEYS: str

Progress = Optional[Callable[[int, int], Any]]
Knobs = list[tuple[str, str]]

def simd_level() -> str: ...
def default_data_dir() -> str: ...
def load_dataset(name: str, dir: str, split: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8], list[str]]: ...
def load(path: str) -> tuple["Model | Converted", str]: ...
def convert(model: "Model", calibration: npt.NDArray[np.float32], knobs: Knobs, threads: int) -> "Converted": ...
def model_from_records(
    input_shape: list[int],
    layers: list[tuple[str, str, dict[str, str], dict[str, list[float]], dict[str, npt.NDArray[np.float32]]]],
    dropout_mode: str,
    source: str,
    provenance_json: str,
) -> "Model": ...
def model_from_keras(
    config_json: str,
    keras_version: str,
    backend: str,
    weights: dict[str, list[tuple[str, npt.NDArray[np.float32]]]],
    source: str,
) -> "Model": ...

class Model:
    source: str
    def to_bytes(self) -> bytes: ...
    input_shape: list[int]
    output_features: int
    def summary_json(self) -> str: ...
    def provenance_json(self) -> str: ...
    def forward(self, images: npt.NDArray[np.float32], threads: int) -> npt.NDArray[np.float32]: ...
    def save(self, path: str) -> None: ...

class Converted:
    source: str
    def record_json(self) -> str: ...
    def normalised(self) -> Model: ...
    def original(self) -> Model: ...
    def save(self, path: str) -> None: ...
    def to_nir(self, path: str, knobs: Knobs) -> list[str]: ...
    def to_bytes(self) -> tuple[bytes, Optional[bytes]]: ...
    def evaluate_part(
        self,
        name: str,
        images: npt.NDArray[np.float32],
        labels: npt.NDArray[np.uint8],
        first_image: int,
        index: int,
        count: int,
        steps: int,
        knobs: Knobs,
        threads: int,
    ) -> str: ...
    def evaluate(
        self,
        name: str,
        images: npt.NDArray[np.float32],
        labels: npt.NDArray[np.uint8],
        steps: int,
        knobs: Knobs,
        threads: int,
        progress: Progress,
    ) -> tuple[str, Optional[BaseException]]: ...

def converted_from_bytes(converted: bytes, original: Optional[bytes], source: str) -> Converted: ...
def shard_range(n: int, index: int, count: int) -> tuple[int, int]: ...
def merge_shards(shards: list[str]) -> str: ...
def model_from_bytes(data: bytes, source: str) -> Model: ...
def sweep(
    model: Model,
    calibration: npt.NDArray[np.float32],
    images: npt.NDArray[np.float32],
    labels: npt.NDArray[np.uint8],
    name: str,
    steps: int,
    grid: str,
    base: Knobs,
    threads: int,
    progress: Progress,
    out: Optional[str],
    resume: bool,
) -> tuple[str, Optional[BaseException]]: ...
def grid_points(grid: str, base: Knobs) -> list[tuple[str, str]]: ...
def simulate_nir(
    nir: str,
    input: npt.NDArray[np.float32],
    framework: Optional[str],
    options: list[tuple[str, str]],
    record: bool,
    threads: int,
    progress: Progress,
    out: Optional[str],
) -> tuple[npt.NDArray[np.float32], str, Optional[BaseException]]: ...
def pareto_front(sweep_json: str) -> list[bool]: ...
def sleep(
    model: Model,
    images: npt.NDArray[np.float32],
    steps: Optional[int],
    preset: str,
    settings: Knobs,
    threads: int,
    progress: Progress,
) -> tuple[Model, str, str, Optional[BaseException]]: ...
def incremental(
    dataset: str,
    data_dir: str,
    seeds: list[int],
    settings: Knobs,
    test_limit: Optional[int],
    threads: int,
    progress: Progress,
    out: Optional[str],
    resume: bool,
) -> tuple[str, Optional[BaseException]]: ...

SLEEP_KEYS: str
INCREMENTAL_KEYS: str
