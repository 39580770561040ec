"""Neutrino internals: not a public API, may change without notice."""
