"""The strict layer of the local AWS: what AWS refuses, the local stack refuses too.

moto accepts requests AWS refuses, so a bug that only AWS would catch passes the tests.
Each rule below wraps the moto method that serves the request, checks what AWS checks,
with AWS's error code and message, and cites the page it follows. Where moto already
enforces a documented rule exactly (an SMS of at most 1,600 characters, at most 100
actions in a transaction), it is left to moto and only tested.

local_aws.py installs this layer unless started with --lenient; nothing in the
repository starts it that way. crates/quench-e2e/tests/strict_stack.rs trips every rule
through the SDK.
"""

import base64
import copy
import json
import threading
from decimal import Decimal, InvalidOperation

# DynamoDB --------------------------------------------------------------------------------

# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html
# ("Items": 400 KB; "DynamoDB transactions": 4 MB in all; every DynamoDB size is binary,
# 1 KB = 1024 bytes).
MAX_ITEM_BYTES = 400 * 1024
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
# AWS words a put too large and an update too large differently; moto's ItemSizeTooLarge
# and ItemSizeToUpdateTooLarge carry the two messages, this one is for a transaction's.
UPDATE_TOO_LARGE = "Item size to update has exceeded the maximum allowed size"
TRANSACTION_TOO_LARGE = "Transaction request cannot be larger than 4 MB"


def _utf8(text):
    return len(text.encode("utf-8"))


def _binary(value):
    return len(value) if isinstance(value, (bytes, bytearray)) else len(base64.b64decode(value))


def _number(text):
    """(1 byte per two significant digits) + 1 byte: leading and trailing zeros trimmed."""
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        digits = [d for d in text if d.isdigit()]
    significant = len("".join(map(str, digits)).strip("0")) or 1
    return -(-significant // 2) + 1


def attribute_size(value):
    """The size of one attribute value as DynamoDB counts it, in the JSON shape of the API
    ({"S": "..."}, {"L": [...]}...):
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
    A list or map costs 3 bytes, and 1 byte for each of its elements."""
    (kind, inner), = value.items()
    if kind == "S":
        return _utf8(inner)
    if kind == "N":
        return _number(inner)
    if kind == "B":
        return _binary(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(map(_utf8, inner))
    if kind == "NS":
        return sum(map(_number, inner))
    if kind == "BS":
        return sum(map(_binary, inner))
    if kind == "L":
        return 3 + sum(1 + attribute_size(element) for element in inner)
    if kind == "M":
        return 3 + sum(1 + _utf8(name) + attribute_size(element) for name, element in inner.items())
    raise ValueError(f"not a DynamoDB attribute value: {kind}")


def item_size(item):
    """Names plus values, the way DynamoDB sizes an item against its 400 KB."""
    return sum(_utf8(name) + attribute_size(value) for name, value in (item or {}).items())


class ValidationError(Exception):
    """An update found too large inside a transaction: moto's transaction reports an
    exception it does not know by its class name, which is the cancellation reason AWS
    gives (a transacted update can only be measured once the transaction runs)."""


_transaction = threading.local()


def _item_identity(backend, table_name, action, body):
    table = backend.tables.get(table_name)
    if table is None:
        return None
    if action == "Put":
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        key = {name: body.get("Item", {}).get(name) for name in names}
    else:
        key = body.get("Key", {})
    return table_name, json.dumps(key, sort_keys=True)


def _strict_dynamodb():
    from moto.dynamodb.exceptions import (
        ItemSizeTooLarge,
        ItemSizeToUpdateTooLarge,
        MockValidationException,
        MultipleTransactionsException,
    )
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    # moto sizes items with its own formula (no list or map overhead, a number's digits
    # as text) against 405,000 bytes, refusing items DynamoDB accepts and accepting some
    # it refuses; the size below is the only one.
    LimitedSizeDict.__setitem__ = dict.__setitem__

    put_item = DynamoDBBackend.put_item
    update_item = DynamoDBBackend.update_item
    transact_write_items = DynamoDBBackend.transact_write_items

    def checked_put(self, table_name, item_attrs, *args, **kwargs):
        if item_size(item_attrs) > MAX_ITEM_BYTES:
            raise ItemSizeTooLarge()
        return put_item(self, table_name, item_attrs, *args, **kwargs)

    def checked_update(self, table_name, key, *args, **kwargs):
        """DynamoDB measures the item the update would store, and stores nothing when it
        is too large: moto's update is applied, measured, and undone."""
        table = self.get_table(table_name)
        hash_value, range_value = self.get_keys_value(table, key)
        before = copy.deepcopy(table.get_item(hash_value, range_value))
        item = update_item(self, table_name, key, *args, **kwargs)
        if item_size(item.to_json()["Attributes"]) <= MAX_ITEM_BYTES:
            return item
        if before is None:
            table.delete_item(hash_value, range_value)
        else:
            # In place: moto updated this very object, which a transaction's rollback
            # snapshot shares (local_aws._light_table_snapshots).
            item.attrs = before.attrs
        if getattr(_transaction, "open", False):
            raise ValidationError(UPDATE_TOO_LARGE)
        raise ItemSizeToUpdateTooLarge()

    def checked_transaction(self, transact_items):
        """Refused before any action runs, as DynamoDB validates the request first: no
        two actions on one item, at most 4 MB of items (puts whole, the key of the
        others). moto's own check of the first runs after earlier actions were applied,
        and its rollback cannot undo an update in place."""
        if len(transact_items) <= 100:
            seen, total = set(), 0
            for entry in transact_items:
                for action, body in entry.items():
                    identity = _item_identity(self, body.get("TableName"), action, body)
                    if identity is not None and identity in seen:
                        raise MultipleTransactionsException()
                    seen.add(identity)
                    total += item_size(body.get("Item") if action == "Put" else body.get("Key"))
            if total > MAX_TRANSACTION_BYTES:
                raise MockValidationException(TRANSACTION_TOO_LARGE)
        _transaction.open = True
        try:
            return transact_write_items(self, transact_items)
        finally:
            _transaction.open = False

    DynamoDBBackend.put_item = checked_put
    DynamoDBBackend.update_item = checked_update
    DynamoDBBackend.transact_write_items = checked_transaction


# SNS -------------------------------------------------------------------------------------

# https://docs.aws.amazon.com/sns/latest/api/API_Publish.html: a subject is ASCII text
# that begins with a letter, number or punctuation mark, has no line breaks or control
# characters and is less than 100 characters long; a message (SMS aside) is at most 256 KB,
# "262,144 bytes, not 262,144 characters". moto counts characters and lets a subject of
# 100 characters, an empty one or one with a line break through. The SMS limit (1,600
# characters, same page) moto enforces itself.
MAX_SNS_MESSAGE_BYTES = 262_144


def _subject_ok(subject):
    return 0 < len(subject) < 100 and subject[0] != " " and all(" " <= c <= "~" for c in subject)


def _strict_sns():
    from moto.sns.exceptions import InvalidParameterValue, SNSInvalidParameter
    from moto.sns.responses import SNSResponse

    # The request, not moto's backend: what moto publishes on its own (an alarm's
    # notification) is not a Publish call.
    publish = SNSResponse.publish

    def checked_publish(self):
        subject, message = self._get_param("Subject"), self._get_param("Message")
        if subject is not None and not _subject_ok(subject):
            raise SNSInvalidParameter("Invalid parameter: Subject")
        if self._get_param("PhoneNumber") is None and _utf8(message or "") > MAX_SNS_MESSAGE_BYTES:
            raise InvalidParameterValue("Invalid parameter: Message too long")
        return publish(self)

    SNSResponse.publish = checked_publish


# SQS -------------------------------------------------------------------------------------

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html:
# MaximumMessageSize is 1,024 bytes to 1,048,576 (1 MiB), 262,144 (256 KiB) when not given.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageAttributeValue.html:
# "All parts of the message attribute, including Name, Type, and Value, are part of the
# message size restriction". moto defaults a queue to 1 MiB and counts the body's
# characters only.
DEFAULT_MAXIMUM_MESSAGE_SIZE = 262_144


def _attribute_bytes(name, attribute):
    # moto hands the attributes over as the protocol spelled them: JSON's or the query's.
    def field(json_name, query_name):
        value = attribute.get(json_name)
        return attribute.get(query_name) if value is None else value

    string, binary = field("StringValue", "string_value"), field("BinaryValue", "binary_value")
    value = _utf8(string) if string is not None else (_binary(binary) if binary is not None else 0)
    return _utf8(name) + _utf8(field("DataType", "data_type") or "") + value


def sqs_message_bytes(body, attributes):
    return _utf8(body or "") + sum(_attribute_bytes(n, a) for n, a in (attributes or {}).items())


def _strict_sqs():
    from moto.sqs.exceptions import InvalidParameterValue
    from moto.sqs.models import SQSBackend
    from moto.sqs.responses import SQSResponse

    create_queue = SQSBackend.create_queue
    send_message = SQSResponse.send_message
    send_message_batch = SQSResponse.send_message_batch

    def check(response, body, attributes):
        limit = int(response.sqs_backend.get_queue(response._get_queue_name()).maximum_message_size)
        if sqs_message_bytes(body, attributes) > limit:
            raise InvalidParameterValue(
                f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
            )

    def checked_create(self, name, tags=None, **kwargs):
        # Only a new queue gets the default: an existing one is compared with the
        # attributes the request gives.
        if name not in self.queues:
            kwargs.setdefault("MaximumMessageSize", DEFAULT_MAXIMUM_MESSAGE_SIZE)
        return create_queue(self, name, tags, **kwargs)

    # The requests, not moto's backend: what SNS delivers to a queue is not a
    # SendMessage call, and a delivery that fails does not fail the Publish.
    def checked_send(self):
        check(self, self._get_param("MessageBody"), self._get_param("MessageAttributes", {}))
        return send_message(self)

    def checked_batch(self):
        # Every entry before any is sent, as moto validates a batch.
        for entry in self._get_param("Entries", []):
            check(self, entry.get("MessageBody"), entry.get("MessageAttributes"))
        return send_message_batch(self)

    SQSBackend.create_queue = checked_create
    SQSResponse.send_message = checked_send
    SQSResponse.send_message_batch = checked_batch


# SSM -------------------------------------------------------------------------------------

# https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html:
# "Standard parameters have a value limit of 4 KB. Advanced parameters have a value limit
# of 8 KB." (Intelligent-Tiering stores what Standard cannot as Advanced.) moto has no
# limit. The message is the one AWS answers for the standard tier.
MAX_PARAMETER_BYTES = {"Standard": 4096, "Advanced": 8192, "Intelligent-Tiering": 8192}


def _strict_ssm():
    from moto.ssm.exceptions import ValidationException
    from moto.ssm.models import SimpleSystemManagerBackend

    put_parameter = SimpleSystemManagerBackend.put_parameter

    def checked_put(self, name, description, value, *args, tier=None, **kwargs):
        existing = self._parameters[name] if name in self._parameters else None
        effective = tier or (existing[-1].tier if existing else self.default_parameter_tier)
        limit = MAX_PARAMETER_BYTES.get(effective, MAX_PARAMETER_BYTES["Standard"])
        if value is not None and _utf8(value) > limit:
            if limit == MAX_PARAMETER_BYTES["Standard"]:
                raise ValidationException(
                    "Standard tier parameters support a maximum parameter value of 4096 characters. "
                    "To create a larger parameter value, upgrade the parameter to use the "
                    "advanced-parameter tier. For more information, see "
                    "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html"
                )
            raise ValidationException(
                "1 validation error detected: Value at 'value' failed to satisfy constraint: "
                f"Member must have length less than or equal to {limit}"
            )
        return put_parameter(self, name, description, value, *args, tier=tier, **kwargs)

    SimpleSystemManagerBackend.put_parameter = checked_put


# Lambda ----------------------------------------------------------------------------------

# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: a synchronous
# invocation's response is at most 6 MB. AWS answers a larger one as the function's own
# error, with this payload (its figure is AWS's, 100 bytes over the documented quota).
MAX_LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024
LAMBDA_RESPONSE_TOO_LARGE = json.dumps(
    {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
).encode()


# Step Functions --------------------------------------------------------------------------

# https://docs.aws.amazon.com/step-functions/latest/dg/limits.html: "Maximum input or
# output size for a task, state, or execution: 262,144 bytes of data as a UTF-8 encoded
# string", for a task's result, a state's output and the input a task is scheduled with.
# moto refuses exactly 262,144 and measures JSON with spaces after its separators and
# non-ASCII escaped, so it refuses data that fits.
MAX_STATE_BYTES = 262_144
# Same page: "Maximum execution history size: 25,000 events." The failure's shape is
# from https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html (the
# 25,000th event is ExecutionFailed unless it is ExecutionSucceeded); its error and cause
# are what AWS reports.
MAX_HISTORY_EVENTS = 25_000
HISTORY_FULL = {
    "error": "States.Runtime",
    "cause": f"The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS}).",
}


def state_bytes(value):
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return _utf8(text)


def _strict_stepfunctions():
    import sys

    from moto.stepfunctions.parser import quotas
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    def is_within_size_quota(value):
        return state_bytes(value) <= MAX_STATE_BYTES

    # Every module of the interpreter that imported moto's measure gets this one.
    for module in list(sys.modules.values()):
        if getattr(module, "is_within_size_quota", None) is quotas.is_within_size_quota and module is not quotas:
            module.is_within_size_quota = is_within_size_quota
    quotas.is_within_size_quota = is_within_size_quota

    # A task's input, once its Parameters are applied, is held to the same quota before
    # the task is scheduled. moto checks only results and outputs.
    task_parameters = StateTask._eval_parameters
    lambda_parameters = StateTaskLambda._eval_parameters

    def checked_task_parameters(self, env):
        parameters = task_parameters(self, env)
        self._verify_size_quota(env=env, value=parameters)
        return parameters

    def checked_lambda_parameters(self, env):
        parameters = lambda_parameters(self, env)
        self._verify_size_quota(env=env, value=parameters["Payload"])
        return parameters

    StateTask._eval_parameters = checked_task_parameters
    StateTaskLambda._eval_parameters = checked_lambda_parameters

    # https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html:
    # States.ALL "can't catch the States.DataLimitExceeded terminal error or the Runtime
    # error types"; only a Retry or Catch naming them does. moto's States.ALL matches
    # everything.
    uncatchable_by_all = {StatesErrorNameType.StatesStatesDataLimitExceeded, StatesErrorNameType.StatesRuntime}
    states_all = StatesErrorName(typ=StatesErrorNameType.StatesALL)
    error_equals = ErrorEqualsDecl._eval_body

    def checked_error_equals(self, env):
        error_name = env.stack[-1]
        if (
            isinstance(error_name, StatesErrorName)
            and error_name.typ in uncatchable_by_all
            and states_all in self.error_names
        ):
            # States.ALL stands alone in its ErrorEquals, so nothing else here names it.
            env.stack.pop()
            env.stack.append(False)
            return
        error_equals(self, env)

    ErrorEqualsDecl._eval_body = checked_error_equals

    class HistoryFull(FailureEventException):
        """Raised by every event an execution records past its last: a States.Runtime
        that no States.ALL catches, which the interpreter ends the execution with."""

        def __init__(self):
            event = FailureEvent.__new__(FailureEvent)
            event.state_name, event.source_event_id = None, 0
            event.error_name = StatesErrorName(typ=StatesErrorNameType.StatesRuntime)
            # Not a terminal event type: a state handling this failure records it, which
            # raises again, so the failure reaches the program whatever the state catches.
            event.event_type = HistoryEventType.TaskFailed
            event.event_details = EventDetails(taskFailedEventDetails=dict(HISTORY_FULL))
            super().__init__(failure_event=event)

        def get_execution_failed_event_details(self):
            return dict(HISTORY_FULL)

    terminal = {
        HistoryEventType.ExecutionSucceeded,
        HistoryEventType.ExecutionFailed,
        HistoryEventType.ExecutionAborted,
        HistoryEventType.ExecutionTimedOut,
    }
    add_event = EventManager.add_event
    history_lock = threading.Lock()

    def checked_add_event(self, context, event_type, event_details=None, *args, **kwargs):
        with history_lock:
            if getattr(self, "_strict_history_full", False):
                if event_type in terminal:
                    return MAX_HISTORY_EVENTS
                raise HistoryFull()
            if len(self._history_event_list) == MAX_HISTORY_EVENTS - 1 and event_type not in terminal:
                add_event(
                    self,
                    context,
                    HistoryEventType.ExecutionFailed,
                    EventDetails(executionFailedEventDetails=dict(HISTORY_FULL)),
                )
                self._strict_history_full = True
                raise HistoryFull()
            return add_event(self, context, event_type, event_details, *args, **kwargs)

    EventManager.add_event = checked_add_event


def install():
    _strict_dynamodb()
    _strict_sns()
    _strict_sqs()
    _strict_ssm()
    _strict_stepfunctions()
