"""One frozen dataclass config <-> declared ROS parameters <-> the YAML offline tools read.

Convention for configs (in ``core/``, which stays ROS-free)::

    @dataclass(frozen=True)
    class SyncConfig:
        capacity: int = field(default=64, metadata={
            "description": "frames kept in the ring buffer", "needs_restart": True})
        time_offset_ns: int = field(default=0, metadata={"description": "t_imu = t_cam + offset"})

- ``metadata["description"]`` becomes the parameter's description. A field without one
  falls back to its trailing ``# comment`` in the class source, then to the field name.
- ``metadata["needs_restart"] = True`` marks a field that a running node cannot change:
  :func:`watch_config` refuses ``ros2 param set`` on it with a reason.
- Section ``sync`` and field ``capacity`` give the parameter ``sync.capacity``; nested
  dataclasses flatten further (``model.encoder.width``) exactly as a ROS parameter YAML
  ``/**: ros__parameters: {sync: {capacity: 64}}`` does, so
  ``core.config_io.load_section(path, "sync", SyncConfig)`` and :func:`declare_config` on a
  node started with ``--ros-args --params-file path`` give the same config.
- ``float`` fields accept integers, as YAML writes ``1`` for ``1.0``; tuples accept ``[]``;
  ``X | None`` fields accept unset. Such fields are declared with dynamic typing, and
  :func:`watch_config` checks types itself.
"""
from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from arvr_hybrid_vio.core.config_io import config_from_mapping
from arvr_hybrid_vio.core.errors import ConfigError

ConfigT = TypeVar("ConfigT")
PType = Parameter.Type
_SCALAR_TYPES = {bool: PType.BOOL, int: PType.INTEGER, float: PType.DOUBLE, str: PType.STRING}
_ARRAY_TYPES = {bool: PType.BOOL_ARRAY, int: PType.INTEGER_ARRAY, float: PType.DOUBLE_ARRAY,
                str: PType.STRING_ARRAY}
# A parameter of the key type may hold a value of these types.
_ACCEPTED = {PType.DOUBLE: {PType.DOUBLE, PType.INTEGER},
             PType.DOUBLE_ARRAY: {PType.DOUBLE_ARRAY, PType.INTEGER_ARRAY}}


@dataclass(frozen=True)
class ParameterSpec:
    """One flattened dataclass field as a ROS parameter."""

    name: str
    path: tuple[str, ...]
    ros_type: Parameter.Type
    default: Any
    description: str
    needs_restart: bool
    optional: bool

    @property
    def dynamic(self) -> bool:
        """Declared with dynamic typing (floats accept ints, optionals unset, arrays empty lists)."""
        return self.optional or self.is_array or self.ros_type in _ACCEPTED

    @property
    def is_array(self) -> bool:
        """Whether the field is a tuple."""
        return self.ros_type in _ARRAY_TYPES.values()

    def accepts(self, parameter: Parameter) -> bool:
        """Whether ``parameter``'s value may be assigned to this parameter."""
        if self.optional and parameter.type_ == PType.NOT_SET:
            return True
        if self.is_array and parameter.type_ == PType.BYTE_ARRAY and len(parameter.value) == 0:
            return True  # rclpy types an empty list as a byte array
        return parameter.type_ in _ACCEPTED.get(self.ros_type, {self.ros_type})


def parameter_specs(section: str, config_type: type) -> list[ParameterSpec]:
    """Flattened parameters of a (possibly nested) dataclass under ``section`` ('' for top level).

    Raises:
        ConfigError: a field's type has no ROS parameter equivalent.
    """
    return _specs(config_type, (section,) if section else ())


def _specs(config_type: type, prefix: tuple[str, ...]) -> list[ParameterSpec]:
    hints = typing.get_type_hints(config_type)
    comments = _field_comments(config_type)
    specs: list[ParameterSpec] = []
    for item in dataclasses.fields(config_type):
        hint, path = hints[item.name], prefix + (item.name,)
        if dataclasses.is_dataclass(hint):
            specs += _specs(hint, path)  # type: ignore[arg-type]
            continue
        base, optional = _strip_optional(hint)
        description = item.metadata.get("description") or comments.get(item.name) or item.name
        specs.append(ParameterSpec(
            name=".".join(path), path=path, ros_type=_ros_type(base, ".".join(path)), default=_default(item),
            description=str(description), needs_restart=bool(item.metadata.get("needs_restart", False)),
            optional=optional))
    return specs


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def _ros_type(hint: Any, name: str) -> Parameter.Type:
    if typing.get_origin(hint) is typing.Literal:
        hint = type(typing.get_args(hint)[0])
    if hint in _SCALAR_TYPES:
        return _SCALAR_TYPES[hint]
    if typing.get_origin(hint) in (tuple, list) and typing.get_args(hint)[0] in _ARRAY_TYPES:
        return _ARRAY_TYPES[typing.get_args(hint)[0]]
    raise ConfigError(f"{name}: type {hint!r} cannot be a ROS parameter (use bool, int, float, str or tuples)")


def _default(item: dataclasses.Field) -> Any:
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    raise ConfigError(f"{item.name}: a config field needs a default to become a ROS parameter")


def _field_comments(config_type: type) -> dict[str, str]:
    """Trailing ``# comments`` of ``name: type = value`` lines in the class source."""
    try:
        source = inspect.getsource(config_type)
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    first_name: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.start[0] not in first_name:
            first_name[token.start[0]] = token.string
        elif token.type == tokenize.COMMENT and token.start[0] in first_name:
            comments.setdefault(first_name[token.start[0]], token.string.lstrip("#").strip())
    return comments


# ------------------------------------------------------------------ values

def _to_ros_value(spec: ParameterSpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.ros_type == PType.DOUBLE:
        return float(value)
    if spec.ros_type == PType.DOUBLE_ARRAY:
        return [float(v) for v in value]
    if spec.is_array:
        return list(value)
    return value


def config_to_parameters(section: str, config: Any) -> list[Parameter]:
    """rclpy Parameters holding ``config`` (e.g. for ``Node(parameter_overrides=...)``)."""
    parameters = []
    for spec in parameter_specs(section, type(config)):
        value = config
        for part in spec.path[1 if section else 0:]:
            value = getattr(value, part)
        ros_type = PType.NOT_SET if value is None else spec.ros_type
        parameters.append(Parameter(spec.name, ros_type, _to_ros_value(spec, value)))
    return parameters


def declare_config(node: Node, section: str, config_type: type[ConfigT]) -> ConfigT:
    """Declare every field of ``config_type`` as a described parameter; return the current config.

    Values come from the node's overrides (``--params-file``, ``parameter_overrides``)
    where given, else from the dataclass defaults.

    Raises:
        ConfigError: a value from the overrides does not fit the dataclass.
    """
    for spec in parameter_specs(section, config_type):
        descriptor = ParameterDescriptor(description=spec.description, dynamic_typing=spec.dynamic,
                                         additional_constraints="needs restart" if spec.needs_restart else "")
        node.declare_parameter(spec.name, _to_ros_value(spec, spec.default), descriptor)
    return config_from_node(node, section, config_type)


def config_from_node(node: Node, section: str, config_type: type[ConfigT]) -> ConfigT:
    """The node's current parameter values of ``section`` as a ``config_type``.

    Raises:
        ConfigError: a current value does not fit the dataclass.
    """
    return _config_from_values(node, section, config_type, {})


def _config_from_values(node: Node, section: str, config_type: type[ConfigT],
                        changes: dict[str, Parameter]) -> ConfigT:
    mapping: dict[str, Any] = {}
    for spec in parameter_specs(section, config_type):
        found, value = _current_value(node, spec, changes)
        if not found:
            continue
        target = mapping
        for part in spec.path[1 if section else 0:-1]:
            target = target.setdefault(part, {})
        target[spec.path[-1]] = value
    return config_from_mapping(config_type, mapping, where=f"{node.get_name()}:{section}")


def _current_value(node: Node, spec: ParameterSpec, changes: dict[str, Parameter]) -> tuple[bool, Any]:
    try:
        parameter = changes.get(spec.name) or node.get_parameter(spec.name)
    except ParameterUninitializedException:
        return False, None
    if parameter.type_ == PType.NOT_SET:
        return spec.optional, None
    if not spec.accepts(parameter):
        raise ConfigError(f"{spec.name}: expected {spec.ros_type.name}, got {parameter.type_.name}")
    return True, list(parameter.value) if spec.is_array else parameter.value


# ------------------------------------------------------------- callbacks

class ConfigWatcher(Generic[ConfigT]):
    """Checks runtime parameter changes of one section; refuses those needing a restart.

    Registered by :func:`watch_config`. ``config`` is always the accepted current config.
    """

    def __init__(self, node: Node, section: str, config_type: type[ConfigT],
                 on_change: Callable[[ConfigT], None] | None) -> None:
        self._node, self._section, self._type = node, section, config_type
        self._specs = {spec.name: spec for spec in parameter_specs(section, config_type)}
        self._on_change = on_change
        self.config: ConfigT = config_from_node(node, section, config_type)

    def check(self, parameters: list[Parameter]) -> SetParametersResult:
        """The on-set-parameters callback: accept the change or say why not."""
        mine = {p.name: p for p in parameters if p.name in self._specs}
        for name, parameter in mine.items():
            reason = self._refusal(self._specs[name], parameter)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        try:
            _config_from_values(self._node, self._section, self._type, mine)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _refusal(self, spec: ParameterSpec, parameter: Parameter) -> str:
        if not spec.accepts(parameter):
            return f"{spec.name}: expected {spec.ros_type.name}, got {parameter.type_.name}"
        if spec.needs_restart and not _same(parameter.value, self._node.get_parameter(spec.name).value):
            return f"{spec.name} cannot change while the node runs; restart the node with the new value"
        return ""

    def applied(self, parameters: list[Parameter]) -> None:
        """The post-set callback: refresh ``config`` and tell ``on_change``."""
        if not any(p.name in self._specs for p in parameters):
            return
        self.config = config_from_node(self._node, self._section, self._type)
        if self._on_change is not None:
            self._on_change(self.config)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)) or hasattr(a, "typecode"):
        return list(a or ()) == list(b or ())
    return a == b


def watch_config(node: Node, section: str, config_type: type[ConfigT], *,
                 on_change: Callable[[ConfigT], None] | None = None) -> ConfigWatcher[ConfigT]:
    """Guard a declared section against bad runtime changes and report accepted ones.

    Call after :func:`declare_config`. Changes to ``needs_restart`` fields, values of the
    wrong type and values the dataclass rejects are refused with a reason (what
    ``ros2 param set`` prints); accepted changes call ``on_change(new_config)``.
    """
    watcher = ConfigWatcher(node, section, config_type, on_change)
    node.add_on_set_parameters_callback(watcher.check)
    node.add_post_set_parameters_callback(watcher.applied)
    return watcher
