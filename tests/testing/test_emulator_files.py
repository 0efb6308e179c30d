"""The File API (``client.files.upload/get/list/delete``) and file parts, through the unmodified SDK."""

from __future__ import annotations

import io
import struct
import time
import wave
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from google import genai
from google.genai import errors, types

from gemini_vectors.testing import GeminiEmulator

G2 = "gemini-embedding-2"


def png(seed: int = 0, extra: int = 0) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(b"\0" + bytes((seed + x + y) % 256 for x in range(12)) for y in range(4))
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows))
    # Big files get an ancillary chunk of padding; decoders skip it.
    padding = chunk(b"tEXt", b"pad\0" + bytes(extra)) if extra else b""
    return b"\x89PNG\r\n\x1a\n" + body + padding + chunk(b"IEND", b"")


def wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(1000)
        w.writeframes(bytes(int(seconds * 1000)))
    return out.getvalue()


def upload(client: genai.Client, data: bytes, mime: str, **config: Any) -> types.File:
    return client.files.upload(file=io.BytesIO(data), config=types.UploadFileConfig(mime_type=mime, **config))


def embed_part(client: genai.Client, part: types.Part) -> npt.NDArray[np.float64]:
    response = client.models.embed_content(
        model=G2,
        contents=[types.Content(parts=[part])],
        config=types.EmbedContentConfig(output_dimensionality=128),
    )
    assert response.embeddings is not None and response.embeddings[0].values is not None
    return np.array(response.embeddings[0].values)


def uri_part(file: types.File) -> types.Part:
    assert file.uri is not None
    return types.Part.from_uri(file_uri=file.uri, mime_type=file.mime_type)


def test_upload_get_list_delete(
    gemini_client: genai.Client, gemini_emulator: GeminiEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "picture.png"
    path.write_bytes(png(1))
    file = gemini_client.files.upload(file=path, config={"display_name": "a picture"})
    assert file.name is not None and file.name.startswith("files/")
    assert file.mime_type == "image/png"  # guessed by the SDK from the suffix
    assert file.size_bytes == len(png(1))
    assert file.display_name == "a picture"
    assert file.state == types.FileState.ACTIVE
    assert gemini_client.files.get(name=file.name).uri == file.uri
    assert [f.name for f in gemini_client.files.list()] == [file.name]
    assert gemini_emulator.stats.uploads == 1 and gemini_emulator.stats.files_stored == 1

    gemini_client.files.delete(name=file.name)
    assert gemini_emulator.stats.file_deletes == 1 and gemini_emulator.stats.files_stored == 0
    with pytest.raises(errors.ClientError) as exc:
        gemini_client.files.get(name=file.name)
    assert exc.value.code == 403 and exc.value.status == "PERMISSION_DENIED"


def test_a_file_part_embeds_like_the_same_bytes_inline(gemini_client: genai.Client) -> None:
    file = upload(gemini_client, png(2), "image/png")
    by_uri = embed_part(gemini_client, uri_part(file))
    inline = embed_part(gemini_client, types.Part.from_bytes(data=png(2), mime_type="image/png"))
    np.testing.assert_array_equal(by_uri, inline)


def test_limits_apply_to_uploaded_bytes(gemini_client: genai.Client) -> None:
    file = upload(gemini_client, wav(190), "audio/wav")
    with pytest.raises(errors.ClientError) as exc:
        embed_part(gemini_client, uri_part(file))
    assert exc.value.code == 400 and "at most 180 s" in (exc.value.message or "")
    gif = upload(gemini_client, b"GIF89a....", "image/gif")  # the File API stores anything ...
    with pytest.raises(errors.ClientError) as exc:
        embed_part(gemini_client, uri_part(gif))  # ... the embedding model refuses it
    assert "Unsupported MIME type: image/gif" in (exc.value.message or "")


def test_unknown_file_is_permission_denied(
    gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    part = types.Part.from_uri(
        file_uri=f"{gemini_emulator.base_url}/v1beta/files/doesnotexist", mime_type="image/png"
    )
    with pytest.raises(errors.ClientError) as exc:
        embed_part(gemini_client, part)
    assert exc.value.code == 403 and "doesnotexist" in (exc.value.message or "")


def test_deleted_file_can_no_longer_be_embedded(gemini_client: genai.Client) -> None:
    file = upload(gemini_client, png(3), "image/png")
    embed_part(gemini_client, uri_part(file))
    assert file.name is not None
    gemini_client.files.delete(name=file.name)
    with pytest.raises(errors.ClientError) as exc:
        embed_part(gemini_client, uri_part(file))
    assert exc.value.code == 403


def test_large_file_is_uploaded_in_chunks(
    gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    data = png(4, extra=9 * 1024 * 1024)  # the SDK sends 8 MB chunks
    file = upload(gemini_client, data, "image/png")
    assert file.size_bytes == len(data)
    assert gemini_emulator.stats.calls["files.upload_chunk"] == 2
    np.testing.assert_array_equal(
        embed_part(gemini_client, uri_part(file)),
        embed_part(gemini_client, types.Part.from_bytes(data=data, mime_type="image/png")),
    )


def test_processing_files_are_not_usable_yet(
    gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    gemini_emulator.faults.file_processing_seconds = 0.4
    file = upload(gemini_client, png(5), "image/png")
    assert file.state == types.FileState.PROCESSING
    with pytest.raises(errors.ClientError) as exc:
        embed_part(gemini_client, uri_part(file))
    assert exc.value.code == 400 and exc.value.status == "FAILED_PRECONDITION"
    assert file.name is not None
    deadline = time.monotonic() + 10
    while gemini_client.files.get(name=file.name).state != types.FileState.ACTIVE:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert embed_part(gemini_client, uri_part(file)).shape == (128,)


def test_named_upload_and_duplicate(gemini_client: genai.Client) -> None:
    file = upload(gemini_client, png(6), "image/png", name="my-picture")
    assert file.name == "files/my-picture"
    with pytest.raises(errors.ClientError) as exc:
        upload(gemini_client, png(6), "image/png", name="my-picture")
    assert exc.value.code == 409


def test_upload_size_limit(gemini_client: genai.Client, gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.limits.max_upload_bytes = 100
    with pytest.raises(errors.ClientError) as exc:
        upload(gemini_client, bytes(200), "application/pdf")
    assert exc.value.code == 400
    assert gemini_emulator.stats.files_stored == 0


def test_list_pages(gemini_client: genai.Client) -> None:
    names = {upload(gemini_client, png(i), "image/png").name for i in range(5)}
    assert {f.name for f in gemini_client.files.list(config={"page_size": 2})} == names


def test_reset_forgets_files(gemini_client: genai.Client, gemini_emulator: GeminiEmulator) -> None:
    file = upload(gemini_client, png(7), "image/png")
    gemini_emulator.reset()
    assert gemini_emulator.stats.files_stored == 0
    assert file.name is not None
    with pytest.raises(errors.ClientError):
        gemini_client.files.get(name=file.name)


def test_batch_job_with_file_parts(gemini_client: genai.Client, gemini_emulator: GeminiEmulator) -> None:
    import warnings

    warnings.filterwarnings("ignore", message=r".*create_embeddings\(\) is experimental")
    gemini_emulator.faults.batch_seconds = 0
    file = upload(gemini_client, png(8), "image/png")
    job = gemini_client.batches.create_embeddings(
        model=G2,
        src=types.EmbeddingsBatchJobSource(
            inlined_requests=types.EmbedContentBatch(
                contents=[
                    types.Content(parts=[uri_part(file)]),
                    types.Content(
                        parts=[types.Part.from_uri(file_uri="files/missing", mime_type="image/png")]
                    ),
                ],
                config=types.EmbedContentConfig(output_dimensionality=128),
            )
        ),
    )
    assert job.name is not None
    job = gemini_client.batches.get(name=job.name)
    assert job.dest is not None and job.dest.inlined_embed_content_responses is not None
    first, second = job.dest.inlined_embed_content_responses
    assert first.response is not None and first.response.embedding is not None
    np.testing.assert_array_equal(first.response.embedding.values, embed_part(gemini_client, uri_part(file)))
    assert second.error is not None and second.error.code == 7  # PERMISSION_DENIED, for that item only


async def test_async_upload(gemini_client: genai.Client, gemini_emulator: GeminiEmulator) -> None:
    file = await gemini_client.aio.files.upload(file=io.BytesIO(png(9)), config={"mime_type": "image/png"})
    assert file.state == types.FileState.ACTIVE and file.name is not None
    await gemini_client.aio.files.delete(name=file.name)
    assert gemini_emulator.stats.files_stored == 0 and gemini_emulator.stats.uploads == 1
