"""The C model: parsing (cparse, prepass), and the facts rules ask about a parsed unit."""
