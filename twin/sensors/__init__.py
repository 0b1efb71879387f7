"""Sensors: wire formats, decoders, MQTT ingest, the DuckDB store, registry and simulator.

Never imports geodata, the scene or the app.
"""
