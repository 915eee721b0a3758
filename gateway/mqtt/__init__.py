"""The MQTT bridge to MES (issue #4): topics, payloads, store-and-forward, acknowledgements.

paho-mqtt lives only in this package. Topics and payloads are documented in docs/mqtt.md,
with their JSON Schemas in gateway/mqtt/schemas/.
"""

from gateway.mqtt.bridge import BridgeStats, MqttBridge

__all__ = ["BridgeStats", "MqttBridge"]
