"""Importers: readers for formats people already have, turning them into hearth events."""
