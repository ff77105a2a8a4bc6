from .models import (
    PROCESS_DOCUMENT_ACTIVITY,
    IngestionInput,
    IngestionResult,
    ProcessDocumentInput,
    ProcessDocumentResult,
)
from .workflows import StandardContentIngestion

__all__ = [
    "PROCESS_DOCUMENT_ACTIVITY",
    "IngestionInput",
    "IngestionResult",
    "ProcessDocumentInput",
    "ProcessDocumentResult",
    "StandardContentIngestion",
]
