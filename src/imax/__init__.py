"""imax: image-centric multi-annotation data for medical MLLMs."""
__version__ = "0.1.0"
