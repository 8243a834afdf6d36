"""Rules: loading and validating rule files, their predicates, and the engine that matches
them on both images of a change and gives each hazard its status."""
