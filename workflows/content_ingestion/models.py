from __future__ import annotations

from pydantic import Field

from ..payload import Payload

PROCESS_DOCUMENT_ACTIVITY = "processDocument"


class IngestionInput(Payload):
    documentId: str = Field(min_length=1, max_length=1_000)
    # How many parts the document is processed in; each reports one PROGRESS update.
    parts: int = Field(3, ge=1, le=1_000)
    # Pause per part, so that progress can be watched live.
    part_delay_secs: float = Field(0.0, ge=0, le=60)


class ProcessDocumentInput(Payload):
    run_id: str
    document_id: str
    parts: int
    part_delay_secs: float


class ProcessDocumentResult(Payload):
    parts_processed: int


class IngestionResult(Payload):
    success: bool
