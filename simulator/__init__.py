"""A simulated beamline that writes NeXus files and emits catalogue events."""
