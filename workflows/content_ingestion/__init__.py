from workflows.content_ingestion.models import (
    PROCESS_DOCUMENT_ACTIVITY,
    IngestionInput,
    IngestionResult,
    ProcessDocumentInput,
    ProcessDocumentResult,
)
from workflows.content_ingestion.workflows import StandardContentIngestion

__all__ = [
    "PROCESS_DOCUMENT_ACTIVITY",
    "IngestionInput",
    "IngestionResult",
    "ProcessDocumentInput",
    "ProcessDocumentResult",
    "StandardContentIngestion",
]
