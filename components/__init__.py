"""Pulumi components of the trainstack platform, one module per concern."""
