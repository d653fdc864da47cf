"""From an object's name and bytes to a stream of text: format detection, gzip, encoding checks.

- The format comes from the extension: `.csv`/`.tsv` CSV (the delimiter is sniffed from the header),
  `.json` a JSON array, `.ndjson`/`.jsonl` one JSON object per line; each optionally `.gz`. Any other
  extension, or none, is `unsupported_format`: the name decides, so a `.log` holding JSON Lines is
  rejected rather than guessed at.
- gzip is recognised by the `.gz` suffix or by its magic bytes (a gzipped `.csv` is read too); a
  `.gz` that is not gzip, ends early or is corrupt is `truncated_gzip` (found wherever it happens).
- The text must be UTF-8 (a BOM is allowed and dropped): NUL bytes (UTF-16 included) or mostly
  control characters are `binary_file`, anything else that does not decode is `bad_encoding`.

Everything streams: the file is read in blocks, never whole.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import PurePosixPath
from typing import BinaryIO

from pipeline.errors import BAD_ENCODING, BINARY_FILE, TOO_LARGE, TRUNCATED_GZIP, UNSUPPORTED_FORMAT, FileRejected

CSV = "csv"
JSON_ARRAY = "json"
NDJSON = "ndjson"

EXTENSIONS = {".csv": CSV, ".tsv": CSV, ".json": JSON_ARRAY, ".ndjson": NDJSON, ".jsonl": NDJSON}
GZIP_SUFFIX = ".gz"
GZIP_MAGIC = b"\x1f\x8b"
BLOCK_BYTES = 1024 * 1024
# In the first block, more than this share of C0 control characters (other than tab, CR, LF, FF)
# means the bytes are not text even when they contain no NUL.
BINARY_CONTROL_SHARE = 0.10
TEXT_CONTROLS = {0x09, 0x0A, 0x0C, 0x0D}


def split_name(key: str) -> tuple[str, str, bool]:
    """(stem, format, gzip-by-name) of an object key; raises unsupported_format.

    `events/2025/day one.csv.gz` -> ("day one", "csv", True)
    """
    name = PurePosixPath(key).name
    compressed = name.lower().endswith(GZIP_SUFFIX)
    if compressed:
        name = name[: -len(GZIP_SUFFIX)]
    path = PurePosixPath(name)
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        supported = ", ".join(sorted(EXTENSIONS))
        found = f"{suffix!r} files" if suffix else "files without an extension"
        raise FileRejected(
            UNSUPPORTED_FORMAT,
            f"tidewater does not read {found}; name the file with one of {supported} (optionally + .gz)",
        )
    return (path.stem or "object"), EXTENSIONS[suffix], compressed


def open_text(binary: BinaryIO, gzip_by_name: bool, max_bytes: int | None = None) -> TextSource:
    """The decoded, checked text of a raw byte stream (gzip undone when there is gzip); more than
    `max_bytes` bytes (after gunzip) is `too_large`."""
    magic = binary.read(2)
    binary.seek(0)
    stream: BinaryIO = binary
    if magic == GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=binary, mode="rb")  # type: ignore[assignment]
    elif gzip_by_name:
        raise FileRejected(TRUNCATED_GZIP, "the name ends in .gz but the content is not gzip data")
    checked = io.BufferedReader(CheckedBytes(stream, max_bytes), buffer_size=BLOCK_BYTES)
    # utf-8-sig drops a leading BOM; newline="" keeps \r\n so the CSV reader sees quoted line breaks.
    return TextSource(io.TextIOWrapper(checked, encoding="utf-8-sig", errors="strict", newline=""))


class CheckedBytes(io.RawIOBase):
    """Reads the (decompressed) bytes, turning gzip damage, binary content and more bytes than
    `max_bytes` (a gzip bomb, or just a file that expands beyond the disk) into rejections."""

    def __init__(self, inner: BinaryIO, max_bytes: int | None = None) -> None:
        self.inner = inner
        self.offset = 0
        self.max_bytes = max_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        try:
            data = self.inner.read(len(buffer))
        except EOFError:
            raise FileRejected(
                TRUNCATED_GZIP, f"the gzip stream ends early (after {self.offset} uncompressed bytes)"
            ) from None
        except (gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise FileRejected(TRUNCATED_GZIP, f"the gzip stream is corrupt: {exc}") from None
        if self.offset == 0:
            check_first_block(data)
        nul = data.find(b"\x00")
        if nul >= 0:
            raise FileRejected(BINARY_FILE, f"a NUL byte at byte {self.offset + nul}: this is not a text file")
        self.offset += len(data)
        if self.max_bytes is not None and self.offset > self.max_bytes:
            raise FileRejected(
                TOO_LARGE,
                f"the content is more than {self.max_bytes} bytes once decompressed, more than this function accepts "
                "(MAX_OBJECT_BYTES, or half the free space in /tmp); split it into smaller files, or give the "
                "function more ephemeral storage",
            )
        buffer[: len(data)] = data
        return len(data)


def check_first_block(data: bytes) -> None:
    sample = data[:65536]
    controls = sum(1 for byte in sample if byte < 0x20 and byte not in TEXT_CONTROLS)
    if sample and b"\x00" not in sample and controls / len(sample) > BINARY_CONTROL_SHARE:
        raise FileRejected(BINARY_FILE, f"{controls} of the first {len(sample)} bytes are control characters")


class TextSource:
    """Text reads that turn a decoding error into `bad_encoding`."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self.text = text

    def readline(self, limit: int) -> str:
        try:
            return self.text.readline(limit)
        except UnicodeDecodeError as exc:
            raise bad_encoding(exc) from None

    def read(self, size: int) -> str:
        try:
            return self.text.read(size)
        except UnicodeDecodeError as exc:
            raise bad_encoding(exc) from None


def bad_encoding(exc: UnicodeDecodeError) -> FileRejected:
    return FileRejected(BAD_ENCODING, f"the file is not valid UTF-8 ({exc.reason}); save it as UTF-8 (a BOM is fine)")
