"""Tests of the task layer (tlo_embed/tasks/)."""
