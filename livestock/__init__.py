"""Livestock face ID: a cow-face embedding model, its evaluation, and the enrolment registry.

The model (EfficientNet-Lite0 with a 128-d head, trained with sub-center
ArcFace on real cow faces) ships with the package, checksummed. The registry
enrols each animal once, identifies photos 1:N, verifies a claimed tag 1:1,
and catches reused photos by perceptual hash.
"""

from livestock.errors import (
    ImageError,
    LivestockError,
    ModelError,
    RegistryError,
    TagError,
    UnknownAnimalError,
)
from livestock.faceid import FaceID, Photo, PhotoAnalysis
from livestock.quality import QualityReport, QualityRules, check_quality, phash
from livestock.registry import (
    AnimalRecord,
    EnrolResult,
    Examination,
    InMemoryTemplateStore,
    Match,
    Registry,
    ReusedPhoto,
    TemplateStore,
)
from livestock.tags import Tag, parse_tag

__all__ = [
    "AnimalRecord",
    "EnrolResult",
    "Examination",
    "FaceID",
    "ImageError",
    "InMemoryTemplateStore",
    "LivestockError",
    "Match",
    "ModelError",
    "Photo",
    "PhotoAnalysis",
    "QualityReport",
    "QualityRules",
    "Registry",
    "RegistryError",
    "ReusedPhoto",
    "Tag",
    "TagError",
    "TemplateStore",
    "UnknownAnimalError",
    "check_quality",
    "parse_tag",
    "phash",
]
