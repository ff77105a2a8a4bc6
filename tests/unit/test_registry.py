from signalway_examples.approval import ApproveInput, RejectInput
from signalway_examples.content_ingestion import IngestionInput
from signalway_examples.registry import TYPES


def test_registry_reads_names_and_payload_models_from_the_workflow_classes() -> None:
    assert set(TYPES) == {"ConversationWorkflow", "ApprovalWorkflow", "StandardContentIngestion",
                          "OrderFulfillmentWorkflow"}
    approval = TYPES["ApprovalWorkflow"]
    assert approval.signal_models == {"approve": ApproveInput, "reject": RejectInput}
    assert TYPES["StandardContentIngestion"].input_model is IngestionInput
    assert TYPES["ConversationWorkflow"].signal_models.keys() == {"UserInput"}
