"""Processes a document in an activity that reports PROGRESS 1..N of N."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from .models import (
        PROCESS_DOCUMENT_ACTIVITY,
        IngestionInput,
        IngestionResult,
        ProcessDocumentInput,
        ProcessDocumentResult,
    )


@workflow.defn
class StandardContentIngestion:
    @workflow.run
    async def run(self, input: IngestionInput) -> IngestionResult:
        await workflow.execute_activity(
            PROCESS_DOCUMENT_ACTIVITY,
            ProcessDocumentInput(
                run_id=workflow.info().run_id,
                document_id=input.documentId,
                parts=input.parts,
                part_delay_secs=input.part_delay_secs,
            ),
            result_type=ProcessDocumentResult,
            start_to_close_timeout=timedelta(seconds=60 + input.parts * (input.part_delay_secs + 1)),
            # Short: a worker that died mid-document is noticed, and the part retried, in seconds.
            heartbeat_timeout=timedelta(seconds=5 + input.part_delay_secs * 2),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        return IngestionResult(success=True)
