"""The ``executions`` tier-2 domain: materializations folded from the event ledger."""

from arco.executions.domain import EXECUTIONS, EXECUTIONS_SPEC, fold_materialization
from arco.executions.executions import Executions
from arco.executions.model import Materialization
from arco.executions.payloads import MATERIALIZATION_STATUSES, MaterializationV1
from arco.executions.schema import MATERIALIZATIONS, MaterializationRow
from arco.executions.state import ExecutionsState

__all__ = [
    "EXECUTIONS",
    "EXECUTIONS_SPEC",
    "MATERIALIZATIONS",
    "MATERIALIZATION_STATUSES",
    "Executions",
    "ExecutionsState",
    "Materialization",
    "MaterializationRow",
    "MaterializationV1",
    "fold_materialization",
]
