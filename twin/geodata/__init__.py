"""Geodata: importers, CRS handling, the City table, the demo city and its generator.

Never imports the sensors, the scene or the app.
"""

from twin.geodata.city import City

__all__ = ["City"]
