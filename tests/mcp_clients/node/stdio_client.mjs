// A stdio-only MCP client (the official TypeScript SDK's StdioClientTransport), as a
// desktop app that can only launch local servers uses one: it starts the command it is
// given (here mcp-remote, bridging to mail_mcp over HTTP), lists the tools and calls
// list_mailboxes through it. Run by tests/it/mcp_clients/mcp_remote.rs.
//
// Env: STDIO_COMMAND (the program), STDIO_ARGS (its arguments, a JSON array).
// Prints one JSON line to stdout: what the server answered, for the test to check.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const transport = new StdioClientTransport({
  command: env("STDIO_COMMAND"),
  args: JSON.parse(env("STDIO_ARGS")),
  env: { ...process.env },
  stderr: "inherit",
});
const client = new Client({ name: "mail_mcp-test-stdio", version: "1.0.0" });
await client.connect(transport);

const report = { server: client.getServerVersion() };
const { tools } = await client.listTools();
report.tools = tools.map((t) => t.name).sort();
const listed = await client.callTool({ name: "list_mailboxes", arguments: {} });
if (listed.isError) {
  throw new Error(`list_mailboxes failed: ${JSON.stringify(listed.content)}`);
}
report.mailboxes = listed.structuredContent.mailboxes.map((m) => m.name).sort();

await client.close();
console.log(JSON.stringify(report));
