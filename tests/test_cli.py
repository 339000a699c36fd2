"""The `open-ada` command line (`open_ada/cli.py`) and the package's edges: a light `import open_ada`, and each
command's flags built from its config dataclass, the one copy of its defaults."""

import subprocess
import sys

import pytest

from conftest import ROOT
from open_ada.cli import build_parser


def test_import_open_ada_loads_neither_torch_nor_transformers():
    code = "import sys, open_ada; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_open_ada_still_offers_the_model_classes_on_first_use():
    import open_ada
    from modeling_ada import AdaModel

    assert open_ada.AdaModel is AdaModel
    with pytest.raises(AttributeError):
        open_ada.NoSuchThing  # noqa: B018


@pytest.mark.parametrize(
    "command, module, config, required",
    [
        ("encode", "open_ada.encode", "EncodeConfig", {}),
        ("evaluate", "open_ada.evaluate", "EvaluateConfig", {"model": "some-model"}),
        ("bench", "open_ada.bench", "BenchConfig", {}),
        ("serve", "open_ada.serve", "ServeConfig", {}),
        ("loadtest", "open_ada.loadtest", "LoadtestConfig", {}),
        ("mine-negatives", "open_ada.negatives", "MineConfig", {}),
        ("compare", "open_ada.compare", "CompareConfig", {"base": "a.json", "candidate": "b.json"}),
        ("interpolate", "open_ada.interpolate", "InterpolateConfig", {"start": "a", "tuned": "b", "output": "c"}),
    ],
)
def test_every_flag_default_is_the_config_default(command, module, config, required):
    import importlib

    cls = getattr(importlib.import_module(module), config)
    # required settings are positionals, except `output`, which is a flag
    argv = [f"--{k}={v}" if k == "output" else v for k, v in required.items()]
    args = build_parser(command).parse_args([command, *argv])
    assert cls.from_args(args) == cls(**required)
