"""TOML -> validated models -> list of Problems (see docs/configuration.md)."""

from gateway.config.loader import check_file, load_config, validate_text
from gateway.config.model import (
    AlarmConfig,
    AnalyticsSection,
    AssetConfig,
    DeviceConfig,
    GatewayConfig,
    GatewaySection,
    HistorySection,
    MqttSection,
    OpcuaSection,
    TagConfig,
    WebSection,
)
from gateway.config.problem import ConfigError, Problem, Severity

__all__ = [
    "AlarmConfig",
    "AnalyticsSection",
    "AssetConfig",
    "ConfigError",
    "DeviceConfig",
    "GatewayConfig",
    "GatewaySection",
    "HistorySection",
    "MqttSection",
    "OpcuaSection",
    "Problem",
    "Severity",
    "TagConfig",
    "WebSection",
    "check_file",
    "load_config",
    "validate_text",
]
