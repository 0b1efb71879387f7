"""Geodata: importers for OSM, CityGML, CityJSON and GIS files, CRS handling, the City table,
the demo-city generator and exporters. Never imports the sensors, the scene or the app."""

from twin.geodata.city import City

__all__ = ["City"]
