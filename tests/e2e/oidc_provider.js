// A real OpenID Connect provider for the end-to-end tests (npm "oidc-provider" 9).
//
// usage: node oidc_provider.js CONFIG.json
//
// CONFIG.json: {"port": 9000, "issuer": "http://127.0.0.1:9000",
//               "clients": [{"client_id", "client_secret", "redirect_uris": [...]}],
//               "users_file": "/path/users.json"}
// users.json:  {"alice": {"password": "...", "name": "...", "email": "...",
//                         "groups": ["/companies/acme/learners"]}, ...}
//
// The users file is read again at every sign-in and every userinfo request, so a
// test can move a user between groups while the hub runs (as an identity admin
// would in Keycloak). Sign-in is a form checking the password; consent is
// granted at once (a first-party client). Prints "ready ISSUER" when listening.
'use strict';

const fs = require('node:fs');
const http = require('node:http');

function readJson(path) {
  return JSON.parse(fs.readFileSync(path, 'utf8'));
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, message) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test SSO</title></head>
<body><h1>Test organisation sign-in</h1>
${message ? `<p id="error">${escapeHtml(message)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}">
  <label>User <input id="username" name="login" autocomplete="username" required></label>
  <label>Password <input id="password" name="password" type="password" required></label>
  <button id="sign-in" type="submit">Sign in</button>
</form></body></html>`;
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(body))));
    req.on('error', reject);
  });
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

async function interaction(provider, usersFile, req, res) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    if (req.method !== 'POST') {
      send(res, 200, loginPage(details.uid, ''));
      return;
    }
    const form = await readForm(req);
    const user = readJson(usersFile)[form.login];
    if (!user || user.password !== form.password) {
      send(res, 401, loginPage(details.uid, 'Wrong user name or password.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: form.login } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  if (details.prompt.name === 'consent') {
    const { missingOIDCScope, missingOIDCClaims } = details.prompt.details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
    return;
  }
  send(res, 501, `prompt ${escapeHtml(details.prompt.name)} is not handled`);
}

async function main() {
  const config = readJson(process.argv[2]);
  const { default: Provider } = await import('oidc-provider');
  const provider = new Provider(config.issuer, {
    clients: config.clients.map((c) => ({
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      ...c,
    })),
    cookies: { keys: ['aione-test-cookie-key'] },
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      email: ['email'],
      groups: ['groups'],
    },
    features: { devInteractions: { enabled: false } },
    findAccount: async (ctx, id) => {
      const user = readJson(config.users_file)[id];
      if (!user) return undefined;
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          preferred_username: id,
          name: user.name || id,
          email: user.email || `${id}@example.org`,
          groups: user.groups || [],
        }),
      };
    },
  });
  const handle = provider.callback();
  const server = http.createServer((req, res) => {
    if (/^\/interaction\/[^/]+$/.test(new URL(req.url, config.issuer).pathname)) {
      interaction(provider, config.users_file, req, res).catch((err) => {
        console.error(err);
        send(res, 400, `interaction failed: ${escapeHtml(err.message)}`);
      });
      return;
    }
    handle(req, res);
  });
  server.listen(config.port, '127.0.0.1', () => console.log(`ready ${config.issuer}`));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
