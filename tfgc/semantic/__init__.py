"""Semantic inputs of GC(D+) and SC: label sets, procedural street scenes, preservation masks."""
