"""The local AWS for tests and the demo: moto in server mode, with two additions.

1. Step Functions really interprets the ASL (moto's `execute_state_machine`).
2. Lambda invocations, including those the state machine makes, are forwarded to
   `cargo lambda watch` when --lambda-endpoint is given, so the deployed ASL runs
   against the real Rust handlers. moto's own Lambda would need Docker.

moto's Step Functions interpreter sends its Lambda calls to localhost:$MOTO_PORT, i.e.
back to this server, which is why the forwarding lives here and not in a separate proxy.
Binds 127.0.0.1 only.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

INVOKE_PREFIX = "/2015-03-31/functions/"
INVOKE_SUFFIX = "/invocations"


def _is_function_error(payload):
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    return isinstance(body, dict) and "errorType" in body


def forwarding(moto_app, lambda_endpoint):
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
        passed.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", passed)
        return [payload]

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lambda-endpoint", default="")
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
    app = forwarding(DomainDispatcherApplication(create_backend_app), args.lambda_endpoint.rstrip("/"))
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"local AWS on http://127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
