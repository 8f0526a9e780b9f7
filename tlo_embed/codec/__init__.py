"""The codec layer: the only place that knows how values become bytes and back."""
