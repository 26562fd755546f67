"""Detectors: small objects that learn what is normal and report what is not.

Each detector sees the stitched contacts of one event-time step, then closes the step: it scores the step
against what it had learned before it, reports :class:`Finding` objects, and only then learns from the step.
Scoring before learning is what keeps a detector causal.
"""

from correlate.detectors.base import Detector, Finding

__all__ = ["Detector", "Finding"]
