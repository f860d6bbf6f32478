"""The official Python MCP SDK (PyPI `mcp`) as a client of mail_mcp, signing in through the
SDK's own OAuth support (`OAuthClientProvider`): discovery, dynamic registration or a
pre-registered client, PKCE, the code exchange and the bearer token are all the SDK's.
Only the person at the browser is played here: the authorize URL the SDK wants opened is
fetched, its login form posted headlessly (keeping the form's cookie), and the code of the
redirect handed back to the SDK's callback handler. Then tools/list and tool calls.

Run by tests/it/mcp_clients/real.rs. Env:
  MCP_URL          the server's MCP endpoint
  MAIL_EMAIL       the mailbox to sign in to; MAIL_PASSWORD its password
  FOLDER           a folder name to create
  CLIENT_ID        optional: a client made by `mail_mcp generate` (else: dynamic registration)
  CLIENT_SECRET    the secret of CLIENT_ID
  SEND_SUBJECT     optional: send_mail_message to the signed-in mailbox with this subject,
                   and wait until list_mail_messages shows it in the INBOX
  SIGN_IN          optional: `provider` clicks "Sign in with <provider>" on our login page
                   instead of the password form, and signs in at the OAuth provider with
                   PROVIDER_LOGIN / PROVIDER_PASSWORD (its login form, then its consent)
Prints one JSON line to stdout: what happened, for the test to check.
"""

import asyncio
import html
import json
import os
import re
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

# Loopback callback, as native apps register it (RFC 8252); nothing needs to listen on it
# because the redirect is read off the login response instead of followed.
REDIRECT_URI = "http://127.0.0.1:33418/callback"


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set")
    return value


class MemoryStorage:
    """The SDK's TokenStorage, in memory; `client_info` pre-registers a client."""

    def __init__(self, client_info: OAuthClientInformationFull | None = None) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info = client_info

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class HeadlessPerson:
    """Opens the authorization URL and signs in on the login page, as a person would."""

    def __init__(self, email: str, password: str) -> None:
        self.email = email
        self.password = password
        self.result: AuthorizationCodeResult | None = None
        self.authorization_url: str | None = None

    async def open(self, authorization_url: str) -> None:
        self.authorization_url = authorization_url
        async with httpx2.AsyncClient(follow_redirects=False, timeout=60) as browser:
            page = await browser.get(authorization_url)
            if page.status_code != 200:
                raise RuntimeError(f"login page: HTTP {page.status_code}: {page.text[:300]}")
            form_token = re.search(r'name="form_token" value="([^"]+)"', page.text)
            action = re.search(r'<form method="post" action="([^"]+)"', page.text)
            if not form_token or not action:
                raise RuntimeError("the login page has no login form")
            fields = {
                "form_token": html.unescape(form_token.group(1)),
                "name": "Python SDK",
                "email": self.email,
                "password": self.password,
                "same_smtp": "on",
                "policy": "send_freely",
                "provider": "",  # clients without mail servers: chosen by the email's domain
            }
            # The cookie the page set (SameSite=Strict) goes back from the client's jar.
            response = await browser.post(html.unescape(action.group(1)), data=fields)
            if response.status_code != 302:
                errors = re.findall(r'<div class="error"[^>]*>(.*?)</div>', response.text, re.S)
                raise RuntimeError(f"login refused: HTTP {response.status_code} {errors}")
            query = parse_qs(urlparse(response.headers["location"]).query)
            self.result = AuthorizationCodeResult(
                code=query["code"][0],
                state=query.get("state", [None])[0],
                iss=query.get("iss", [None])[0],
            )

    def take_code(self, location: str) -> None:
        """Keeps the code of our redirect to the SDK's redirect URI."""
        query = parse_qs(urlparse(location).query)
        if "code" not in query:
            raise RuntimeError(f"no code in the redirect: {query.get('error')}")
        self.result = AuthorizationCodeResult(
            code=query["code"][0],
            state=query.get("state", [None])[0],
            iss=query.get("iss", [None])[0],
        )

    async def callback(self) -> AuthorizationCodeResult:
        if self.result is None:
            raise RuntimeError("the login did not finish")
        return self.result


class ProviderPerson(HeadlessPerson):
    """Clicks "Sign in with <provider>" on our login page and signs in at the provider:
    its login form (`login`, `password`), its consent, and back through our callback,
    whose redirect carries our code. httpx's cookie jar keeps each host's cookies."""

    async def open(self, authorization_url: str) -> None:
        self.authorization_url = authorization_url
        async with httpx2.AsyncClient(follow_redirects=False, timeout=60) as browser:
            page = await browser.get(authorization_url)
            if page.status_code != 200:
                raise RuntimeError(f"login page: HTTP {page.status_code}: {page.text[:300]}")
            # The page's one form: a provider button posts it to its formaction.
            token = re.search(r'<input type="hidden" name="form_token" value="([^"]+)">', page.text)
            button = re.search(
                r'name="oauth_provider" value="([^"]+)" formaction="([^"]+)"', page.text
            )
            if not token or not button:
                raise RuntimeError("the login page has no provider button")
            form_token = html.unescape(token.group(1))
            provider, action = (html.unescape(g) for g in button.groups())
            start = httpx2.URL(authorization_url).join(action)
            fields = {"form_token": form_token, "oauth_provider": provider, "policy": "send_freely"}
            response = await browser.post(start, data=fields)
            location = self.redirect_of(response, "the provider button")
            # The provider: its interaction page, then its two-field login form.
            location = await self.follow(browser, location, until="/interaction/")
            login = await browser.get(location)
            if login.status_code != 200:
                raise RuntimeError(f"provider login page: HTTP {login.status_code}")
            form = httpx2.URL(location).join(urlparse(location).path + "/login")
            credentials = {"login": self.email, "password": self.password}
            response = await browser.post(form, data=credentials)
            location = self.redirect_of(response, "the provider's login")
            # Resume, consent (granted at once), resume, our callback: back to the SDK.
            redirect = await self.follow(browser, location, until=REDIRECT_URI)
            self.take_code(redirect)

    @staticmethod
    def redirect_of(response, what: str) -> str:
        if response.status_code not in (302, 303):
            raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
        return str(response.url.join(response.headers["location"]))

    async def follow(self, browser, location: str, until: str) -> str:
        """Follows redirects one hop at a time until one leads to `until`."""
        for _ in range(10):
            if until in location and (until != REDIRECT_URI or location.startswith(until)):
                return location
            response = await browser.get(location)
            location = self.redirect_of(response, f"GET {urlparse(location).path}")
        raise RuntimeError(f"never redirected to {until}")


async def call(client: Client, name: str, arguments: dict) -> dict:
    """Calls a tool; a tool error fails the run. Returns its structured content."""
    result = await client.call_tool(name, arguments)
    if result.is_error:
        raise RuntimeError(f"{name} failed: {result.content}")
    return result.structured_content or {}


def unmarked(text):
    """Mail text without the per-call markers around it (<mail-N>text</mail-N>)."""
    match = re.fullmatch(r"<mail-([A-Za-z0-9]+)>(.*)</mail-\1>", text or "", re.S)
    return match.group(2) if match else text


async def send_to_self(client: Client, address: str, subject: str) -> bool:
    """Sends `subject` to `address` and waits (up to 30 s) until the INBOX lists it."""
    await call(client, "send_mail_message", {"to": [address], "subject": subject, "text_body": "from the Python SDK\n"})
    for _ in range(60):
        page = await call(client, "list_mail_messages", {"folder": "INBOX"})
        if any(unmarked(m.get("subject")) == subject for m in page["messages"]):
            return True
        await asyncio.sleep(0.5)
    return False


async def main() -> None:
    url = env("MCP_URL")
    if os.environ.get("SIGN_IN") == "provider":
        person = ProviderPerson(env("PROVIDER_LOGIN"), env("PROVIDER_PASSWORD"))
    else:
        person = HeadlessPerson(env("MAIL_EMAIL"), env("MAIL_PASSWORD"))
    client_id = os.environ.get("CLIENT_ID")
    pre_registered = None
    if client_id:
        pre_registered = OAuthClientInformationFull(
            client_id=client_id,
            client_secret=env("CLIENT_SECRET"),
            redirect_uris=[REDIRECT_URI],
            token_endpoint_auth_method="client_secret_post",
        )
    storage = MemoryStorage(pre_registered)
    oauth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="Python SDK test client",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=person.open,
        callback_handler=person.callback,
    )
    report: dict = {}
    async with httpx2.AsyncClient(auth=oauth, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            report["protocol"] = client.protocol_version
            tools = await client.list_tools()
            names = sorted(tool.name for tool in tools.tools)
            report["tools"] = names
            folder = env("FOLDER")
            await call(client, "create_mailbox", {"name": folder})
            listed = await call(client, "list_mailboxes", {})
            report["mailboxes"] = sorted(m["name"] for m in listed["mailboxes"])
            # Read tools, where this server has them: the test delivered one message.
            if "list_mail_messages" in names:
                page = await call(client, "list_mail_messages", {"folder": "INBOX"})
                report["subjects"] = [unmarked(m.get("subject")) for m in page["messages"]]
                if page["messages"] and "get_mail_message" in names:
                    uid = page["messages"][0]["uid"]
                    message = await call(client, "get_mail_message", {"folder": "INBOX", "uid": uid})
                    report["message"] = message
            if "search_mail_messages" in names:
                found = await call(client, "search_mail_messages", {"folder": "INBOX", "subject": "python"})
                report["found"] = [unmarked(m.get("subject")) for m in found["messages"]]
            subject = os.environ.get("SEND_SUBJECT")
            if subject:
                report["received"] = await send_to_self(client, person.email, subject)
    client_info = storage.client_info
    report["client_id_registered"] = bool(client_info and client_info.client_id != client_id)
    report["auth_method"] = client_info.token_endpoint_auth_method if client_info else None
    report["token_scope"] = storage.tokens.scope if storage.tokens else None
    report["has_refresh_token"] = bool(storage.tokens and storage.tokens.refresh_token)
    report["authorization_url"] = person.authorization_url
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    asyncio.run(main())
