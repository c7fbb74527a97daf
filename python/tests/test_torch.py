"""`from_torch`: the traced network computes what torch computes, and converts to the numbers the
CLI gives for the same network exported to a file by converters/torch_export.py."""

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import somnet
from conftest import randomise_batch_norm, same_evaluation


class LeNet(nn.Module):
    """A module with its own forward (traced by torch.fx)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.pool1 = nn.AvgPool2d(2)
        self.conv2 = nn.Conv2d(6, 12, 3, padding=1)
        self.pool2 = nn.AvgPool2d(2)
        self.fc1 = nn.Linear(12 * 6 * 6, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool1(torch.relu(self.conv1(x)))
        x = self.pool2(torch.relu(self.conv2(x)))
        x = x.view(x.size(0), -1)
        return self.fc2(torch.relu(self.fc1(x)))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64, bias=False), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(64, 10, bias=False))


def bncnn():
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12), nn.ReLU(),
        nn.Flatten(), nn.Linear(12 * 7 * 7, 24), nn.BatchNorm1d(24), nn.ReLU(), nn.Linear(24, 10))
    return randomise_batch_norm(net, 7)


def trained(net, seed):
    """A few hundred SGD steps on MNIST so that the spiking network has something to reproduce."""
    torch.manual_seed(seed)
    for m in net.modules():
        if hasattr(m, "reset_parameters") and not isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.reset_parameters()
    images, labels = somnet.datasets.load("mnist", "train", limit=3000)
    x, y = torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    for epoch in range(2):
        for i in range(0, len(x), 100):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[i:i + 100]), y[i:i + 100]).backward()
            opt.step()
    return net.eval()


NETS = {"mlp": (mlp, (1, 28, 28)), "lenet": (LeNet, (1, 28, 28)), "bncnn": (bncnn, (1, 28, 28))}


@pytest.fixture(scope="module", params=sorted(NETS))
def net(request):
    make, shape = NETS[request.param]
    return request.param, trained(make(), seed=1), shape


def test_traced_network_computes_what_torch_computes(net, mnist_test):
    name, module, shape = net
    images, _ = mnist_test
    model = somnet.from_torch(module, shape)
    with torch.no_grad():
        expected = module(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(model.predict(images), expected, atol=1e-5, rtol=1e-5, err_msg=name)


def test_traced_network_converts_to_the_cli_numbers_of_its_exported_file(net, root, cli, tmp_path, mnist_test, calibration):
    name, module, shape = net
    spec = importlib.util.spec_from_file_location("torch_export", root / "converters" / "torch_export.py")
    import sys
    sys.path.insert(0, str(root / "converters"))
    exporter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(exporter)
    path = tmp_path / f"{name}.h5"
    exporter.export(module, shape, str(path))
    images, labels = mnist_test
    model = somnet.from_torch(module, shape)
    python = somnet.convert(model, calibration).evaluate(images, labels, steps=16)
    expected = cli("evaluate", "--model", path, "--dataset", "mnist", "--steps", 16, "--limit", 200,
                   "--calibration-limit", 600, "--json")
    same_evaluation(python, expected)
    assert python.ann_accuracy > 0.5, "the short training should reach well above chance"


def test_unsupported_modules_are_refused_by_name():
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.GELU())
    with pytest.raises(somnet.SomnetError, match="layer '2': module GELU is not supported"):
        somnet.from_torch(net, (1, 28, 28))


class BasicBlock(nn.Module):
    """torchvision's basic block: `out += identity`, a ReLU module called twice, a `downsample`
    Sequential where the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = BasicBlock(8, 8, 1)
        self.layer2 = BasicBlock(8, 12, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(torch.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def test_residual_network_is_traced_as_a_graph_and_converts(mnist_test, calibration):
    net = randomise_batch_norm(TinyResNet(), 5).eval()
    images, labels = mnist_test
    model = somnet.from_torch(net, (1, 28, 28))
    with torch.no_grad():
        expected = net(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(model.predict(images), expected, atol=1e-5, rtol=1e-5)
    result = somnet.convert(model, calibration).evaluate(images[:10], labels[:10], steps=8)
    # Populations: the stem, each block's first convolution and junction, the global pooling, the
    # classifier; the junctions' other inputs (second convolutions, shortcuts) project into them.
    assert len(result.layers) == 7


def test_unsupported_operations_are_refused_by_name():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)

        def forward(self, x):
            return self.a(x) * 2

    with pytest.raises(somnet.SomnetError, match="'mul': operation .* is not supported"):
        somnet.from_torch(Scaled(), (4,))


class QCFS(nn.Module):
    """The QCFS activation (Bu et al., ICLR 2022) as a user would write it: `levels` and a
    trainable threshold `lambda_`."""

    def __init__(self, levels, lam):
        super().__init__()
        self.levels = levels
        self.lambda_ = nn.Parameter(torch.tensor([lam]))

    def forward(self, x):
        return self.lambda_ * torch.clamp(torch.floor(x * self.levels / self.lambda_ + 0.5) / self.levels, 0, 1)


def test_qcfs_modules_are_recognised_and_convert_with_their_threshold(mnist_test, calibration):
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), QCFS(4, 2.5), nn.Linear(32, 10)).eval()
    images, labels = mnist_test
    model = somnet.from_torch(net, (1, 28, 28))
    with torch.no_grad():
        expected = net(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(model.predict(images), expected, atol=1e-5, rtol=1e-5)
    converted = somnet.convert(model, calibration, initial="half")
    # θ = λ (Bu et al.): the hidden layer's scale is the module's threshold, not a percentile.
    assert converted.record.layer_scales[0] == pytest.approx([2.5])
