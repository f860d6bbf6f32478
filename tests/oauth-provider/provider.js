// A real OpenID Connect provider for the XOAUTH2/OAUTHBEARER tests: panva's oidc-provider
// (certified, maintained), configured here and started by `bin/oauth-stack` on 127.0.0.1.
// It stands in for Google / Microsoft: authorization code with PKCE (S256 only), rotating
// refresh tokens, revocation, introspection, dynamic registration, an id_token carrying a
// verified `email`, JWKS, and RS256-signed JWT access tokens that Dovecot's oauth2 passdb
// validates locally with the public key (kid "k1").
//
//   node provider.js CONFIG.json
//
// CONFIG.json (written by bin/oauth-stack): { issuer, port, keyFile, usersDir,
// accessTokenTtl, clients: [oidc-provider client metadata...] }. Accounts are files
// usersDir/<email> holding the password (a new file works at once). The login page is this
// script's own two-field form (POST /interaction/:uid/login, fields `login` and
// `password`); consent is granted at once, as for a first-party app. No token, code or
// password is ever logged.
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { timingSafeEqual } from 'node:crypto';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const MAIL_RESOURCE = `${config.issuer}/mail`;
const MAIL_SCOPE = 'mail';
// Clients whose access tokens live 1 s: the tests' expired tokens are real ones. A client
// is short-lived when its client_id, or the client_name it registered with (dynamic
// registration picks the id), is listed.
const SHORT_LIVED = new Set(config.shortLivedClients ?? []);
const isShortLived = (client) => SHORT_LIVED.has(client?.clientId) || SHORT_LIVED.has(client?.clientName);

const signingKey = {
  ...createPrivateKey(readFileSync(config.keyFile)).export({ format: 'jwk' }),
  kid: 'k1',
  alg: 'RS256',
  use: 'sig',
};

/** The password on file for `email`, or null. */
function passwordOf(email) {
  if (!/^[a-z0-9._+-]+@[a-z0-9.-]+$/.test(email)) return null;
  try {
    return readFileSync(join(config.usersDir, email), 'utf8').trim();
  } catch {
    return null;
  }
}

function samePassword(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: [signingKey] },
  findAccount: async (_ctx, id) => (passwordOf(id) === null ? undefined : {
    accountId: id,
    claims: async () => ({ sub: id, email: id, email_verified: true }),
  }),
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'offline_access', 'email', MAIL_SCOPE],
  // Like Google's: the id_token of the code flow carries the email claims.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  // Like Microsoft's: every refresh hands out a new refresh token and consumes the old one.
  rotateRefreshToken: true,
  ttl: {
    AccessToken: (_ctx, _token, client) => (isShortLived(client) ? 1 : config.accessTokenTtl),
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 86400,
    RefreshToken: 86400,
  },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Clients (like ours, and like Google's) send no `resource`: the mail resource is implied.
      defaultResource: () => MAIL_RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource, client) => {
        if (resource !== MAIL_RESOURCE) throw new Provider.errors.InvalidTarget();
        return {
          scope: MAIL_SCOPE,
          audience: MAIL_RESOURCE,
          accessTokenFormat: 'jwt',
          accessTokenTTL: isShortLived(client) ? 1 : config.accessTokenTtl,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  // Dovecot's oauth2 passdb finds the mailbox in the access token's `email` claim.
  extraTokenClaims: async (_ctx, token) => (token.kind === 'AccessToken' ? { email: token.accountId } : undefined),
  // Dovecot 2.3 refuses a JWT whose header typ is not exactly "JWT" ("Cannot find 'typ'
  // field"); RFC 9068's "at+jwt" is what oidc-provider writes unless told otherwise.
  formats: {
    customizers: {
      jwt: async (_ctx, _token, jwt) => {
        jwt.header = { typ: 'JWT' };
      },
    },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
});
provider.proxy = false;

function page(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><meta charset="utf-8"><title>Test provider</title>${html}`);
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

/** Grants what the client asked for: the tests' provider has no consent screen. */
async function grantAll(details) {
  const { prompt: { details: missing }, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, '<p>Unknown sign-in request.</p>');
  if (details.prompt.name === 'consent') {
    return provider.interactionFinished(req, res, { consent: { grantId: await grantAll(details) } });
  }
  if (action === 'login' && req.method === 'POST') {
    const form = await readForm(req);
    const login = (form.get('login') ?? '').toLowerCase();
    const expected = passwordOf(login);
    if (expected === null || !samePassword(expected, form.get('password') ?? '')) {
      return page(res, 401, `<p id="error">Wrong email or password.</p>${loginForm(uid)}`);
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  return page(res, 200, loginForm(uid));
}

function loginForm(uid) {
  return `<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Email <input name="login" type="email" autofocus></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button></form>`;
}

const callback = provider.callback();
const server = createServer(async (req, res) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/.exec(new URL(req.url, config.issuer).pathname);
  if (!m) return callback(req, res);
  try {
    await interaction(req, res, m[1], m[2]);
  } catch (err) {
    console.error(`interaction failed: ${err.name}: ${err.message}`);
    if (!res.headersSent) page(res, 400, `<p>${escapeHtml(err.message)}</p>`);
  }
});

for (const event of ['server_error', 'grant.error', 'introspection.error', 'revocation.error']) {
  provider.on(event, (_ctx, err) => console.error(`${event}: ${err.name}: ${err.message}`));
}
const shutdown = () => server.close(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
server.listen(config.port, '127.0.0.1', () => console.error(`listening on ${config.issuer}`));
