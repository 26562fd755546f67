"""The lab: a simulated contact centre with injected faults (``simulate``), scoring incidents against its truth
(``evaluate``), and both around the real stack in one command (``demo``). Not part of the pipeline: nothing in it
runs in production, and the pipeline imports none of it."""

__all__: list[str] = []
