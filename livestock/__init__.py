"""Livestock face ID: a cow-face embedding model, its evaluation, and the enrolment registry.

The model (EfficientNet-Lite0 with a 128-d head, trained with sub-center
ArcFace on real cow faces) ships with the package, checksummed. The registry
enrols each animal once, identifies photos 1:N, verifies a claimed tag 1:1,
and catches reused photos by perceptual hash.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livestock.data import (
        Capture,
        capture_day,
        capture_time,
        scan_folder,
        split_enrol_query,
    )
    from livestock.errors import (
        ImageError,
        LivestockError,
        ModelError,
        RegistryError,
        StaleTemplatesError,
        TagError,
        UnknownAnimalError,
    )
    from livestock.evaluate import cross_fold_report, evaluate_folder
    from livestock.exif import read_metadata
    from livestock.export import EdgeManifest, ExportCheck, check_export, export_onnx
    from livestock.faceid import FaceID, Photo, PhotoAnalysis
    from livestock.model import DEFAULT_WEIGHTS, WEIGHTS_DIR, ImageNetBackbone
    from livestock.preprocess import MAX_BYTES
    from livestock.quality import (
        QualityReport,
        QualityRules,
        check_quality,
        hamming,
        phash,
    )
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
    from livestock.tags import Scheme, Tag, parse_tag

# Public name -> the submodule that defines it. Importing the package loads
# nothing else; a name's submodule (and its libraries) loads on first use (PEP 562).
_SUBMODULE = {
    "Capture": "livestock.data",
    "capture_day": "livestock.data",
    "capture_time": "livestock.data",
    "scan_folder": "livestock.data",
    "split_enrol_query": "livestock.data",
    "MAX_BYTES": "livestock.preprocess",
    "AnimalRecord": "livestock.registry",
    "EnrolResult": "livestock.registry",
    "EdgeManifest": "livestock.export",
    "Examination": "livestock.registry",
    "ExportCheck": "livestock.export",
    "FaceID": "livestock.faceid",
    "ImageError": "livestock.errors",
    "ImageNetBackbone": "livestock.model",
    "DEFAULT_WEIGHTS": "livestock.model",
    "WEIGHTS_DIR": "livestock.model",
    "InMemoryTemplateStore": "livestock.registry",
    "LivestockError": "livestock.errors",
    "Match": "livestock.registry",
    "ModelError": "livestock.errors",
    "Photo": "livestock.faceid",
    "PhotoAnalysis": "livestock.faceid",
    "QualityReport": "livestock.quality",
    "QualityRules": "livestock.quality",
    "Registry": "livestock.registry",
    "RegistryError": "livestock.errors",
    "ReusedPhoto": "livestock.registry",
    "Scheme": "livestock.tags",
    "Tag": "livestock.tags",
    "TagError": "livestock.errors",
    "TemplateStore": "livestock.registry",
    "UnknownAnimalError": "livestock.errors",
    "StaleTemplatesError": "livestock.errors",
    "check_export": "livestock.export",
    "check_quality": "livestock.quality",
    "evaluate_folder": "livestock.evaluate",
    "cross_fold_report": "livestock.evaluate",
    "export_onnx": "livestock.export",
    "hamming": "livestock.quality",
    "parse_tag": "livestock.tags",
    "phash": "livestock.quality",
    "read_metadata": "livestock.exif",
}

__all__ = [
    "DEFAULT_WEIGHTS",
    "MAX_BYTES",
    "WEIGHTS_DIR",
    "AnimalRecord",
    "Capture",
    "EdgeManifest",
    "EnrolResult",
    "Examination",
    "ExportCheck",
    "FaceID",
    "ImageError",
    "ImageNetBackbone",
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
    "Scheme",
    "StaleTemplatesError",
    "Tag",
    "TagError",
    "TemplateStore",
    "UnknownAnimalError",
    "capture_day",
    "capture_time",
    "check_export",
    "check_quality",
    "cross_fold_report",
    "evaluate_folder",
    "export_onnx",
    "hamming",
    "parse_tag",
    "phash",
    "read_metadata",
    "scan_folder",
    "split_enrol_query",
]


if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any name

    def __getattr__(name: str) -> Any:
        """Import the submodule that defines ``name`` on first use, then keep it here."""
        try:
            module = _SUBMODULE[name]
        except KeyError:
            raise AttributeError(
                f"module {__name__!r} has no attribute {name!r}"
            ) from None
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        """The public names, loaded or not."""
        return sorted(set(globals()) | set(__all__))
