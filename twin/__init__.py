"""twin: a 3D digital twin of Ludwigshafen am Rhein.

Geodata (OSM, CityGML, CityJSON, GIS files) becomes one fast 3D mesh; live LoRaWAN sensor
values arrive over MQTT, are stored in DuckDB and coloured onto the buildings; a trame web UI
shows it all in a browser.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
