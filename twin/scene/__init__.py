"""Scene: scene files, binding sensors to buildings, colour styles, the live twin object."""
