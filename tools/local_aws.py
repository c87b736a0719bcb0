"""The local AWS for tests and the demo: moto in server mode, with five additions.

1. Step Functions really interprets the ASL (moto's `execute_state_machine`).
2. Lambda invocations, including those the state machine makes, are forwarded to
   `cargo lambda watch` when --lambda-endpoint is given, so the deployed ASL runs
   against the real Rust handlers. moto's own Lambda would need Docker.
3. CloudWatch over Smithy RPC v2 CBOR, the protocol current AWS SDKs speak to it, is
   bridged to moto's JSON protocol for CloudWatch (request decoded, response encoded by
   botocore's own CBOR code and the service model): moto routes only the older protocols.
4. Faults and an instance stand-in, set by tests through POST /_quench/...:
   - /_quench/faults {"target": "AmazonSSM.SendCommand", "code": "ThrottlingException",
     "count": 4}: the next `count` requests with that X-Amz-Target get that error (the
     JSON protocol's error shape; HTTP 500 for InternalServerError, InternalFailure and
     InternalError, 503 for ServiceUnavailable, 400 otherwise) and never reach moto.
     With "after": true moto applies the request first, then the caller gets the error:
     the write landed, its answer is lost. With "delay_seconds": N the answer is held N
     seconds (after moto applied the request, unless it was refused before): without a
     "code" it is moto's own answer, given after the caller's timeout. POST
     /_quench/faults/served tells how many were served.
   - POST /_quench/calls: the AWS requests served since the last ask (for benchmarks), each
     with the caller's `app/` user-agent name (which function made it).
   - POST /_quench/sms: every SMS SNS accepted, as [phone, message] pairs. Faults also
     apply to query-protocol operations, named like `SNS.Publish`.
   - /_quench/agent {"match": "pgrep", "status": "Success", "exit_code": 0,
     "stdout": "1", "stderr": ""}: what Run Command reports for commands whose text
     contains `match` (the newest matching rule wins; "status": "InProgress" keeps it
     running). moto itself reports every command as a silent success, and nothing here
     runs the commands: they are meant for an instance, not this machine.

5. The strict layer (tools/strict_aws.py): what AWS refuses that moto accepts is refused
   too, with AWS's error: SNS subjects and message sizes, DynamoDB item and transaction
   sizes and transactions touching an item twice, SQS message sizes against the queue's
   MaximumMessageSize, SSM parameter value sizes, Step Functions' 256 KiB state data
   (which States.ALL does not catch) and 25,000-event histories, and (here, where
   invocations are forwarded) Lambda responses over 6 MB. --lenient leaves it out;
   nothing in the repository uses that.

moto's Step Functions interpreter sends its Lambda calls to localhost:$MOTO_PORT, i.e.
back to this server, which is why the forwarding lives here and not in a separate proxy.
Binds 127.0.0.1 only.
"""

import argparse
import contextlib
import io
import json
import threading
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import strict_aws

INVOKE_PREFIX = "/2015-03-31/functions/"
INVOKE_SUFFIX = "/invocations"


def _is_function_error(payload):
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    return isinstance(body, dict) and "errorType" in body


def forwarding(moto_app, lambda_endpoint, strict=True):
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not (
            lambda_endpoint
            and environ.get("REQUEST_METHOD") == "POST"
            and path.startswith(INVOKE_PREFIX)
            and path.endswith(INVOKE_SUFFIX)
        ):
            return moto_app(environ, start_response)
        # The ASL names functions by ARN in AWS; locally the name is the last segment.
        name = urllib.parse.unquote(path[len(INVOKE_PREFIX) : -len(INVOKE_SUFFIX)]).split(":")[-1]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        request = urllib.request.Request(
            f"{lambda_endpoint}{INVOKE_PREFIX}{name}{INVOKE_SUFFIX}",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=900) as response:
                status, headers, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, payload = error.code, error.headers, error.read()
        passed = [
            (key, value)
            for key, value in headers.items()
            if key.lower() in ("content-type", "x-amz-function-error", "x-amz-executed-version")
        ]
        # AWS answers a function's own error with 200 and X-Amz-Function-Error, which is what
        # Step Functions turns into the error name its Retry and Catch match on. The local
        # emulator may answer with an error status instead; say it the AWS way.
        if status >= 400 and _is_function_error(payload):
            status = 200
            if not any(key.lower() == "x-amz-function-error" for key, _ in passed):
                passed.append(("X-Amz-Function-Error", "Unhandled"))
        synchronous = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse") == "RequestResponse"
        if strict and synchronous and len(payload) > strict_aws.MAX_LAMBDA_RESPONSE_BYTES:
            payload = strict_aws.LAMBDA_RESPONSE_TOO_LARGE
            passed = [(k, v) for k, v in passed if k.lower() != "x-amz-function-error"]
            passed.append(("X-Amz-Function-Error", "Unhandled"))
        passed.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", passed)
        return [payload]

    return app


class Scenario:
    """Faults and instance answers the tests ask for; shared by the server's threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.faults = []  # [{"target", "code", "count", "after", "delay_seconds"}]
        self.served = {}
        self.agent_rules = []
        self.commands = {}  # CommandId -> the command's text
        self.calls = []  # every AWS request served, for the benchmarks

    def take_fault(self, target):
        with self.lock:
            for fault in self.faults:
                if fault["target"] == target and fault["count"] > 0:
                    fault["count"] -= 1
                    self.served[target] = self.served.get(target, 0) + 1
                    return dict(fault)
        return None

    def agent_answer(self, command_id):
        with self.lock:
            text = self.commands.get(command_id)
            if text is None:
                return None
            for rule in reversed(self.agent_rules):
                if rule["match"] in text:
                    return rule
        return None


# The status AWS answers these errors with, which decides whether an SDK retries them.
FAULT_STATUS = {
    "InternalServerError": "500 Internal Server Error",
    "InternalFailure": "500 Internal Server Error",
    "InternalError": "500 Internal Server Error",
    "ServiceUnavailable": "503 Service Unavailable",
}


def _fault(body):
    """A fault as POST /_quench/faults describes it, or why it cannot be one."""
    fault = {
        "target": body.get("target"),
        "code": body.get("code") or None,
        "count": int(body.get("count", 1)),
        "after": bool(body.get("after", False)),
        "delay_seconds": float(body.get("delay_seconds", 0)),
    }
    if not fault["target"]:
        return None, "a fault needs a target"
    if not fault["code"] and (fault["after"] or not fault["delay_seconds"]):
        return None, "a fault needs a code, unless it only holds the answer (delay_seconds)"
    return fault, None


def _fault_answer(start_response, fault, xml):
    """The injected error, in the JSON protocol's shape or the query protocol's XML,
    after the fault's delay."""
    time.sleep(fault["delay_seconds"])
    code = fault["code"]
    status = FAULT_STATUS.get(code, "400 Bad Request")
    if not xml:
        return _json_response(start_response, status, {"__type": code, "message": "injected by the test"})
    side = "Receiver" if status.startswith("5") else "Sender"
    payload = (
        f"<ErrorResponse><Error><Type>{side}</Type>"
        f"<Code>{code}</Code><Message>injected by the test</Message>"
        "</Error><RequestId>injected</RequestId></ErrorResponse>"
    ).encode()
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))])
    return [payload]


def _json_response(start_response, status, body):
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def _call(app, environ, body):
    """Runs the wrapped app on a request whose body was already read; returns its response."""
    environ = dict(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers

    payload = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], payload


def _size_units(value, unit):
    return max(1, -(-len(json.dumps(value)) // unit))


def _capacity(operation, request, response):
    """DynamoDB on-demand units, estimated from JSON sizes (which overstate the bytes
    DynamoDB bills): writes per started KB, twice in a transaction; strongly consistent
    reads per started 4 KB."""
    if operation in ("DynamoDB.PutItem", "DynamoDB.DeleteItem", "DynamoDB.UpdateItem"):
        return _size_units(request.get("Item") or request.get("Key"), 1024), 0
    if operation == "DynamoDB.TransactWriteItems":
        writes = reads = 0
        for item in request.get("TransactItems", []):
            if "Put" in item:
                writes += 2 * _size_units(item["Put"]["Item"], 1024)
            elif "ConditionCheck" in item:
                reads += 2
            else:
                writes += 2
        return writes, reads
    if operation in ("DynamoDB.GetItem", "DynamoDB.Query"):
        return 0, max(1, -(-len(response) // 4096))
    return 0, 0


TARGET_SERVICES = {
    "DynamoDB_20120810": "DynamoDB",
    "AmazonSSM": "SSM",
    "secretsmanager": "SecretsManager",
    "AmazonSQS": "SQS",
    "AWSStepFunctions": "AWSStepFunctions",
}
QUERY_SERVICES = {"2016-11-15": "EC2", "2010-03-31": "SNS", "2012-11-05": "SQS"}


def _operation(environ, path, body):
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        service, _, op = target.partition(".")
        return f"{TARGET_SERVICES.get(service, service)}.{op}"
    if path.startswith(CBOR_PREFIX) and "/operation/" in path:
        return f"CloudWatch.{path.split('/')[4]}"
    if body and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        service = QUERY_SERVICES.get(form.get("Version", [""])[0], "Query")
        return f"{service}.{form.get('Action', ['?'])[0]}"
    return None


def metered(app, scenario):
    """Counts the AWS requests the handlers make (POST /_quench/calls returns and clears
    them), with DynamoDB capacity estimates."""

    def wrapped(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_quench/calls":
            with scenario.lock:
                calls, scenario.calls = scenario.calls, []
            return _json_response(start_response, "200 OK", {"calls": calls})
        if path.startswith("/_quench/"):
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        operation = _operation(environ, path, body)
        status, headers, payload = _call(app, environ, body)
        if operation:
            writes, reads = 0, 0
            if operation.startswith("DynamoDB."):
                try:
                    writes, reads = _capacity(operation, json.loads(body or b"{}"), payload)
                except ValueError:
                    pass
            agent = environ.get("HTTP_X_AMZ_USER_AGENT", "") + " " + environ.get("HTTP_USER_AGENT", "")
            caller = next((part[4:] for part in agent.split() if part.startswith("app/")), None)
            with scenario.lock:
                scenario.calls.append(
                    {"operation": operation, "status": int(status.split()[0]), "wru": writes, "rru": reads, "app": caller}
                )
        start_response(status, headers)
        return [payload]

    return wrapped


def scripted(moto_app, scenario):
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if path.startswith("/_quench/"):
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            with scenario.lock:
                if path == "/_quench/faults" and environ.get("REQUEST_METHOD") == "POST":
                    fault, problem = _fault(body)
                    if problem:
                        return _json_response(start_response, "400 Bad Request", {"error": problem})
                    scenario.faults.append(fault)
                elif path == "/_quench/agent" and environ.get("REQUEST_METHOD") == "POST":
                    scenario.agent_rules.append(body)
                elif path == "/_quench/sms":
                    return _json_response(start_response, "200 OK", {"sms": _sms_sent()})
                return _json_response(start_response, "200 OK", {"served": scenario.served})
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target:
            return _query_fault(moto_app, scenario, environ, start_response, length)
        fault = scenario.take_fault(target)
        if fault and fault["code"] and not fault["after"]:
            return _fault_answer(start_response, fault, xml=False)
        body = environ["wsgi.input"].read(length) if length else b""
        # moto's threaded server does not lock its DynamoDB backend, so two conditional
        # writes racing can both pass their condition; DynamoDB itself never lets them.
        # One at a time keeps the emulator's writes atomic.
        with DYNAMODB_LOCK if target.startswith("DynamoDB_") else contextlib.nullcontext():
            status, headers, payload = _call(moto_app, environ, body)
        if status.startswith("200") and target in ("AmazonSSM.SendCommand", "AmazonSSM.GetCommandInvocation"):
            headers, payload = _scripted_ssm(scenario, target, body, headers, payload)
        if fault and fault["code"]:
            return _fault_answer(start_response, fault, xml=False)
        if fault:
            time.sleep(fault["delay_seconds"])
        start_response(status, headers)
        return [payload]

    return app


def _scripted_ssm(scenario, target, body, headers, payload):
    """Run Command as the tests scripted it: SendCommand's text is kept, and
    GetCommandInvocation answers what the agent rules say. Returns (headers, payload)."""
    if target == "AmazonSSM.SendCommand":
        request, response = json.loads(body), json.loads(payload)
        text = "\n".join(request.get("Parameters", {}).get("commands", []))
        with scenario.lock:
            scenario.commands[response["Command"]["CommandId"]] = text
        return headers, payload
    invocation = json.loads(payload)
    rule = scenario.agent_answer(invocation.get("CommandId"))
    if rule:
        status_word = rule.get("status", "Success")
        invocation.update(
            {
                "Status": status_word,
                "StatusDetails": status_word,
                "ResponseCode": int(rule.get("exit_code", 0 if status_word == "Success" else 1)),
                "StandardOutputContent": rule.get("stdout", ""),
                "StandardErrorContent": rule.get("stderr", ""),
            }
        )
    payload = json.dumps(invocation).encode()
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(payload))))
    return headers, payload


DYNAMODB_LOCK = threading.Lock()


def _light_table_snapshots():
    """moto snapshots a table for a transaction's rollback with copy.deepcopy: every item
    of the table, once per item in the transaction, so a write costs O(table size) and
    10,000 open incidents make each transaction take seconds where DynamoDB takes
    milliseconds. A snapshot that copies the key maps and shares the Item objects is
    enough to roll back puts, deletes and condition checks (what Quench's transactions
    do); it would not undo an UpdateItem's in-place change inside a failed transaction."""
    import copy
    from collections import defaultdict

    from moto.dynamodb.models.table import Table

    def snapshot(table, memo):
        clone = copy.copy(table)
        clone.items = defaultdict(dict)
        for hash_key, entry in table.items.items():
            clone.items[hash_key] = dict(entry) if isinstance(entry, dict) else entry
        return clone

    Table.__deepcopy__ = snapshot


def _query_fault(moto_app, scenario, environ, start_response, length):
    """Faults for the query protocol (SNS, SQS, EC2): the target is `SNS.Publish`; the
    error is the protocol's XML shape."""
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    form = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
    operation = _operation(environ, environ.get("PATH_INFO", ""), body) if form else None
    fault = scenario.take_fault(operation) if operation else None
    if not fault:
        return moto_app(environ, start_response)
    if fault["code"] and not fault["after"]:
        return _fault_answer(start_response, fault, xml=True)
    status, headers, payload = _call(moto_app, environ, body)
    if fault["code"]:
        return _fault_answer(start_response, fault, xml=True)
    time.sleep(fault["delay_seconds"])
    start_response(status, headers)
    return [payload]


def _sms_sent():
    """Every SMS moto's SNS accepted: [[phone, message], ...]."""
    from moto.sns.models import sns_backends

    sent = []
    for account in sns_backends.values():
        for backend in account.values():
            sent.extend([phone, message] for phone, message in backend.sms_messages.values())
    return sent


CBOR_PREFIX = "/service/"


def cbor_bridge(app):
    import datetime

    import botocore.session
    from botocore.parsers import RpcV2CBORParser
    from botocore.serialize import RpcV2CBORSerializer
    from botocore.utils import parse_timestamp

    class Serializer(RpcV2CBORSerializer):
        def _serialize_type_timestamp(self, serialized, value, shape, key):
            super()._serialize_type_timestamp(serialized, parse_timestamp(value), shape, key)

    models = {}
    parser, serializer = RpcV2CBORParser(), Serializer()

    def encode(value, shape):
        out = bytearray()
        serializer._serialize_data_item(out, value, shape)
        return bytes(out)

    def plain(value):
        if isinstance(value, datetime.datetime):
            return value.timestamp()
        if isinstance(value, (bytes, bytearray)):
            import base64

            return base64.b64encode(value).decode()
        raise TypeError(type(value).__name__)

    def bridged(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not (path.startswith(CBOR_PREFIX) and "/operation/" in path):
            return app(environ, start_response)
        # /service/<service>/operation/<operation>
        parts = path.split("/")
        target_prefix, operation = parts[2], parts[4]
        if target_prefix != "GraniteServiceVersion20100801":
            return app(environ, start_response)
        model = models.get("cloudwatch") or models.setdefault(
            "cloudwatch", botocore.session.get_session().get_service_model("cloudwatch")
        )
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        request = parser.parse_data_item(parser.get_peekable_stream_from_bytes(raw)) if raw else {}
        body = json.dumps(request or {}, default=plain).encode()
        forwarded = dict(environ)
        forwarded["PATH_INFO"] = "/"
        forwarded["CONTENT_TYPE"] = "application/x-amz-json-1.0"
        forwarded["HTTP_X_AMZ_TARGET"] = f"{target_prefix}.{operation}"
        status, headers, payload = _call(app, forwarded, body)
        answer = json.loads(payload or b"{}")
        if status.startswith("200"):
            output_shape = model.operation_model(operation).output_shape
            # An operation without output answers an empty map.
            data = encode(answer, output_shape) if output_shape is not None else b"\xa0"
        else:
            code = str(answer.get("__type", "InternalFailure")).split("#")[-1]
            data = bytearray()
            error = {"__type": code, "message": str(answer.get("message", answer.get("Message", "")))}
            serializer._serialize_type_map(data, error, _ErrorShape(), None)
            data = bytes(data)
        start_response(
            status,
            [
                ("Content-Type", "application/cbor"),
                ("smithy-protocol", "rpc-v2-cbor"),
                ("Content-Length", str(len(data))),
            ],
        )
        return [data]

    return bridged


class _ErrorShape:
    """Just enough of a botocore map shape of strings for an error body."""

    class _String:
        type_name = "string"

    type_name = "map"
    key = _String()
    value = _String()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lambda-endpoint", default="")
    parser.add_argument("--lenient", action="store_true", help="moto's own rules, without the strict layer")
    args = parser.parse_args()

    # Read by moto's Step Functions interpreter to find "its" Lambda.
    os.environ["MOTO_PORT"] = str(args.port)
    from moto.core.config import default_user_config
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    scenario = Scenario()
    _light_table_snapshots()
    if not args.lenient:
        strict_aws.install()
    moto_app = metered(scripted(cbor_bridge(DomainDispatcherApplication(create_backend_app)), scenario), scenario)
    app = forwarding(moto_app, args.lambda_endpoint.rstrip("/"), strict=not args.lenient)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"local AWS on http://127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
