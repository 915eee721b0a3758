"""The gateway as a Sparkplug B 3.0 edge node (issue #16): payload schema, metrics, session.

docs/sparkplug.md describes the configuration, topics and behaviour and lists the
specification's normative statements the tests check. The edge node has its own MQTT
connection, gateway/mqtt/numbered.py (paho lives in gateway/mqtt): a Sparkplug session (its
Will, bdSeq, seq and births) is not the MQTT bridge's, though it may use the same broker.
"""
