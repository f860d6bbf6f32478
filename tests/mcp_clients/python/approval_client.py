"""The official Python MCP SDK (PyPI `mcp`) approving a send on a connection whose policy
is "Ask me first". The SDK speaks 2026-07-28, declares form elicitation (it has an
elicitation callback) and answers the server's InputRequiredResult through that
callback, then retries with the answer and the echoed requestState, all by itself.
The callback plays the person: it records the form's message and answers DECISION.

Run by tests/it/http/mcp/approval_sdk.rs. Env:
  MCP_URL      the server's MCP endpoint
  TOKEN        an access token (policy ask)
  TO           the recipient; SUBJECT the subject
  DECISION     `approve` (accept, choosing the approving value) or `decline`
Prints one JSON line to stdout: what happened, for the test to check.
"""

import asyncio
import json
import os
import sys

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set")
    return value


async def main() -> None:
    report: dict = {"forms": []}
    decision = env("DECISION")

    async def person(context, params) -> types.ElicitResult:
        report["forms"].append({"message": params.message, "schema": params.requested_schema})
        if decision == "approve":
            return types.ElicitResult(action="accept", content={"decision": "approve"})
        return types.ElicitResult(action="decline")

    headers = {"Authorization": f"Bearer {env('TOKEN')}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(env("MCP_URL"), http_client=http)
        async with Client(transport, elicitation_callback=person) as client:
            report["protocol"] = client.protocol_version
            result = await client.call_tool(
                "send_mail_message",
                {"to": [env("TO")], "bcc": ["hidden@example.test"], "subject": env("SUBJECT"),
                 "text_body": "approved from the Python SDK\n"},
            )
            report["is_error"] = bool(result.is_error)
            report["text"] = " ".join(getattr(c, "text", "") for c in result.content)
            report["structured"] = result.structured_content
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    asyncio.run(main())
