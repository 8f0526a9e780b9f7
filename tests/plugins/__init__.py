"""Tests of the plugin host (tlo_embed/plugins) and its toolchain proofs."""
