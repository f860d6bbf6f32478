// The official TypeScript MCP SDK as a client with a static bearer token, as LibreChat or
// a script would use a token from `mail_mcp token`: tools/list, then tool calls against
// the real mailbox. Run by tests/it/mcp_clients/real.rs.
//
// Env: MCP_URL, MCP_TOKEN, MAIL_EMAIL (the account's address), FOLDER (a folder to create).
// Prints one JSON line to stdout: what the server answered, for the test to check.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** Calls a tool and returns its structuredContent; a tool error fails the run. */
async function call(client, name, args) {
  const result = await client.callTool({ name, arguments: args });
  if (result.isError) {
    throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  }
  return result.structuredContent;
}

const url = new URL(env("MCP_URL"));
const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers: { Authorization: `Bearer ${env("MCP_TOKEN")}` } },
});
const client = new Client({ name: "mail_mcp-test-typescript", version: "1.0.0" });
await client.connect(transport);

const report = { server: client.getServerVersion(), protocol: transport.protocolVersion ?? null };
const { tools } = await client.listTools();
report.tools = tools.map((t) => t.name).sort();
const has = (name) => report.tools.includes(name);

const folder = env("FOLDER");
await call(client, "create_mailbox", { name: folder });
const listed = await call(client, "list_mailboxes", {});
report.mailboxes = listed.mailboxes.map((m) => m.name).sort();

if (has("send_mail_message")) {
  const sent = await call(client, "send_mail_message", {
    to: [env("MAIL_EMAIL")],
    subject: `typescript sdk ${folder}`,
    text_body: "Sent by the TypeScript MCP SDK through mail_mcp.",
  });
  report.sent = sent;
}
if (has("list_mail_messages")) {
  report.inbox = await call(client, "list_mail_messages", { folder: "INBOX" });
}

await client.close();
console.log(JSON.stringify(report));
