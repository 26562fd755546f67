"""Every detector there is, in the order the Engine runs them (their findings reach the incident book in it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from correlate.detectors.base import Detector, DetectorFactory
from correlate.detectors.rate import RateDetector
from correlate.detectors.silence import SilenceDetector
from correlate.detectors.symptom import SymptomDetector

if TYPE_CHECKING:
    from correlate.config import Settings

__all__ = ["DETECTORS", "build_detectors"]

DETECTORS: Final[tuple[DetectorFactory, ...]] = (RateDetector, SymptomDetector, SilenceDetector)


def build_detectors(settings: Settings) -> list[Detector]:
    """The detectors the settings run, each configured by them."""
    return [factory.from_settings(settings) for factory in DETECTORS if factory.runs_with(settings)]
