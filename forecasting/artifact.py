"""Model artifacts: text, NumPy and JSON files in one directory, verified by checksum.

No pickles: LightGBM models are text, arrays are `.npy` written and read with
`allow_pickle=False`, everything else is JSON. Each component writes and reads its own files
through these two objects; the checksum covers every file's name and bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from forecasting.errors import ArtifactError

CHECKSUM_FILE = "CHECKSUM"


def artifact_checksum(directory: Path) -> str:
    """sha256 over the names and bytes of every artifact file except CHECKSUM, in name order."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(directory).iterdir() if p.is_file() and p.name != CHECKSUM_FILE)
    for path in files:
        digest.update(path.name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


class ArtifactWriter:
    """Writes one artifact directory; `finish` seals it with its checksum."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def array(self, name: str, value: np.ndarray) -> None:
        np.save(self.directory / f"{name}.npy", np.ascontiguousarray(value), allow_pickle=False)

    def text(self, name: str, value: str) -> None:
        (self.directory / f"{name}.txt").write_text(value)

    def json(self, name: str, value: Any) -> None:
        text = json.dumps(value, sort_keys=True, indent=1, allow_nan=False)
        (self.directory / f"{name}.json").write_text(text)

    def finish(self) -> str:
        """Write CHECKSUM and return it ("sha256:<hex>")."""
        checksum = artifact_checksum(self.directory)
        (self.directory / CHECKSUM_FILE).write_text(checksum + "\n")
        return checksum


class ArtifactReader:
    """Reads an artifact directory whose checksum was verified when it was opened."""

    def __init__(self, directory: Path, expected_checksum: str | None = None) -> None:
        """Open and verify.

        Args:
            directory: What an `ArtifactWriter` wrote.
            expected_checksum: The checksum it must have (e.g. from the registry); when None,
                its own CHECKSUM file is checked instead.

        Raises:
            ArtifactError: missing files or a checksum mismatch.
        """
        self.directory = Path(directory)
        if not (self.directory / "metadata.json").is_file():
            raise ArtifactError(f"no model artifact in {self.directory}")
        try:
            actual = artifact_checksum(self.directory)
            recorded_file = self.directory / CHECKSUM_FILE
            recorded = recorded_file.read_text().strip() if recorded_file.is_file() else None
        except OSError as error:
            raise ArtifactError(f"cannot read model artifact in {directory}: {error}") from error
        expected = expected_checksum or recorded
        if expected is None:
            raise ArtifactError(f"model artifact in {directory} has no checksum to verify")
        if actual != expected:
            raise ArtifactError(
                f"model artifact in {directory} fails its checksum: "
                f"expected {expected}, got {actual}"
            )

    def array(self, name: str) -> np.ndarray:
        return np.load(self.directory / f"{name}.npy", allow_pickle=False)

    def text(self, name: str) -> str:
        return (self.directory / f"{name}.txt").read_text()

    def has(self, name: str) -> bool:
        return any((self.directory / f"{name}{ext}").is_file() for ext in (".npy", ".txt", ".json"))

    def json(self, name: str) -> Any:
        return json.loads((self.directory / f"{name}.json").read_text())
