"""Dataclass config <-> declared ROS parameters <-> the YAML that load_section reads."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import rclpy
import yaml
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter

from arvr_hybrid_vio.core.config_io import load_section
from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.ros.params import (
    config_from_node,
    config_to_parameters,
    declare_config,
    parameter_specs,
    watch_config,
)


@dataclass(frozen=True)
class EncoderConfig:
    width: int = 8  # channels of the first layer
    gains: tuple[float, ...] = (1.0, 2.0)  # per-scale gains


@dataclass(frozen=True)
class DemoConfig:
    capacity: int = field(default=64, metadata={"description": "frames kept in the ring", "needs_restart": True})
    rate_hz: float = 10.0  # output rate
    frame_id: str = "odom"  # odometry frame
    publish_tf: bool = True  # also broadcast odom -> base_link
    topics: tuple[str, ...] = ()  # extra topics
    max_gap_ns: int | None = None  # largest tolerated gap, None: no limit
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


@pytest.fixture()
def context() -> Iterator[Context]:
    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)


def write_yaml(path: Path, section: dict, *, node_key: str = "/**") -> Path:
    path.write_text(yaml.safe_dump({node_key: {"ros__parameters": {"demo": section}}}))
    return path


FILE_VALUES = {"capacity": 3, "rate_hz": 2, "frame_id": "map", "publish_tf": False, "topics": ["/a", "/b"],
               "max_gap_ns": 50_000_000, "encoder": {"width": 16, "gains": [3, 4]}}


def test_specs_flatten_with_descriptions() -> None:
    specs = {spec.name: spec for spec in parameter_specs("demo", DemoConfig)}
    assert sorted(specs) == sorted(["demo.capacity", "demo.rate_hz", "demo.frame_id", "demo.publish_tf", "demo.topics",
                                    "demo.max_gap_ns", "demo.encoder.width", "demo.encoder.gains"])
    assert specs["demo.capacity"].description == "frames kept in the ring" and specs["demo.capacity"].needs_restart
    assert specs["demo.rate_hz"].description == "output rate"  # from the trailing comment
    assert specs["demo.encoder.gains"].description == "per-scale gains"
    assert not specs["demo.rate_hz"].needs_restart


def test_params_file_equals_load_section(context: Context, tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "demo.yaml", FILE_VALUES)
    node = Node("demo_node", context=context, cli_args=["--ros-args", "--params-file", str(path)])
    config = declare_config(node, "demo", DemoConfig)
    assert config == load_section(path, "demo", DemoConfig)
    assert config.encoder.gains == (3.0, 4.0) and config.rate_hz == 2.0 and config.topics == ("/a", "/b")
    assert node.describe_parameter("demo.capacity").description == "frames kept in the ring"
    assert node.describe_parameter("demo.frame_id").description == "odometry frame"
    node.destroy_node()


def test_node_named_section_and_partial_file(context: Context, tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "demo.yaml", {"rate_hz": 7.5, "encoder": {"width": 4}}, node_key="named_node")
    node = Node("named_node", context=context, cli_args=["--ros-args", "--params-file", str(path)])
    config = declare_config(node, "demo", DemoConfig)
    assert config == load_section(path, "demo", DemoConfig, node_name="named_node")
    assert config == DemoConfig(rate_hz=7.5, encoder=EncoderConfig(width=4))
    node.destroy_node()


def test_defaults_and_parameter_overrides_round_trip(context: Context) -> None:
    node = Node("defaults", context=context)
    assert declare_config(node, "demo", DemoConfig) == DemoConfig()
    wanted = DemoConfig(capacity=5, topics=("/x",), max_gap_ns=7, encoder=EncoderConfig(gains=()))
    other = Node("overridden", context=context, parameter_overrides=config_to_parameters("demo", wanted))
    assert declare_config(other, "demo", DemoConfig) == wanted
    assert config_from_node(other, "demo", DemoConfig) == wanted
    node.destroy_node()
    other.destroy_node()


def test_watch_refuses_restart_fields_and_bad_types(context: Context) -> None:
    node = Node("watched", context=context)
    declare_config(node, "demo", DemoConfig)
    seen: list[DemoConfig] = []
    watcher = watch_config(node, "demo", DemoConfig, on_change=seen.append)
    refused = node.set_parameters([Parameter("demo.capacity", value=128)])[0]
    assert not refused.successful and "demo.capacity" in refused.reason and "restart" in refused.reason
    same = node.set_parameters([Parameter("demo.capacity", value=64)])[0]
    assert same.successful  # setting the current value is no change
    wrong = node.set_parameters([Parameter("demo.rate_hz", value="fast")])[0]
    assert not wrong.successful and "demo.rate_hz" in wrong.reason
    assert node.set_parameters([Parameter("demo.rate_hz", value=3)])[0].successful
    assert node.set_parameters([Parameter("demo.encoder.width", value=32)])[0].successful
    assert watcher.config == DemoConfig(rate_hz=3.0, encoder=EncoderConfig(width=32))
    assert seen[-1] == watcher.config and config_from_node(node, "demo", DemoConfig) == watcher.config
    node.destroy_node()


def test_bad_file_value_raises_config_error(context: Context, tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "demo.yaml", {"rate_hz": "fast"})
    node = Node("bad", context=context, cli_args=["--ros-args", "--params-file", str(path)])
    with pytest.raises(ConfigError, match="demo.rate_hz"):
        declare_config(node, "demo", DemoConfig)
    node.destroy_node()


def test_unsupported_field_type_raises() -> None:
    @dataclass(frozen=True)
    class Bad:
        mapping: dict = field(default_factory=dict)

    with pytest.raises(ConfigError, match="bad.mapping"):
        parameter_specs("bad", Bad)
