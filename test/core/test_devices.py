"""Device names: one list for configs and command lines, a typo refused by name without torch."""
from __future__ import annotations

import subprocess
import sys

import pytest

from arvr_hybrid_vio.core.devices import DEVICES, check_device
from arvr_hybrid_vio.core.errors import ConfigError


def test_known_devices_pass_and_a_typo_names_its_setting() -> None:
    for device in DEVICES:
        check_device(device)
    with pytest.raises(ConfigError, match=r"estimator.device must be auto, cpu or cuda, got 'gpu'"):
        check_device("gpu", setting="estimator.device")


def test_every_tool_offers_the_same_devices() -> None:
    code = ("import sys\n"
            "from arvr_hybrid_vio.tools import bench, benchmark, demo, infer\n"
            "for tool, argv in ((bench, []), (benchmark, []), (demo, []), (infer, ['bag', '--model', 'm', '--out', 'o'])):\n"
            "    try:\n"
            "        tool.main([*argv, '--device', 'gpu'])\n"
            "    except SystemExit as exc:\n"
            "        print(tool.__name__, exc.code)\n"
            "print('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "False", done.stdout  # refused before torch is imported
    assert len(lines) == 5 and all(line.endswith(" 2") for line in lines[:4]), done.stdout
    assert done.stderr.count("invalid choice: 'gpu' (choose from 'auto', 'cpu', 'cuda')") == 4, done.stderr
