// A real OpenID Provider (the OpenID Certified `oidc-provider` package) for Parley's OIDC sign-in tests.
//
// Started by tests/identity/op_fixture.py with OP_CONFIG (JSON): {"port", "clients": [...], "users": {...}}.
// Users sign in through oidc-provider's own login and consent forms (its devInteractions): the login is the
// account id, any password is accepted. Claims (email, email_verified, name, groups) come from `users`, and are
// released by userinfo (oidc-provider keeps ID tokens to `sub` for the code flow, so Parley must ask userinfo).
//
// Test-only controls, so tests can make this provider misbehave the way a broken or hostile one would:
//   POST /test/users          {"id": {"email", "email_verified", "name", "groups"}}   add or replace accounts
//   POST /test/id-token       {"nonce", "aud", "iss", "exp_offset", "sign_with", "kid"}  the next ID tokens are re-signed
//                             with these changes (a wrong nonce, an expiry in the past, another key); {} resets
//   POST /test/jwks           {"publish": ["A", "B"]}   which keys /jwks serves (key "A" signs by default)
//   GET  /test/stats          {"jwks_fetches": n}       how often /jwks was read
import { generateKeyPairSync, sign as rsaSign } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OP_CONFIG ?? '{}');
const port = Number(config.port ?? 0);
const issuer = `http://127.0.0.1:${port}`;

// Three RSA keys: A is the provider's own signing key; B is a rotation key; C is never published.
// "rogue" signs under another key's kid (a forged signature).
const keys = {};
for (const name of ['A', 'B', 'C', 'rogue']) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  keys[name] = { privateKey, publicJwk: { ...publicKey.export({ format: 'jwk' }), kid: `key-${name}`, alg: 'RS256', use: 'sig' } };
}

const users = { ...(config.users ?? {}) };
let idTokenChanges = {};
let published = ['A'];
let jwksFetches = 0;

const provider = new Provider(issuer, {
  clients: config.clients ?? [],
  jwks: { keys: [{ ...keys.A.privateKey.export({ format: 'jwk' }), kid: 'key-A', alg: 'RS256', use: 'sig' }] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  cookies: { keys: ['parley-test-op-cookie-key'] },
  async findAccount(ctx, sub) {
    const user = users[sub];
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, ...user };
      },
    };
  },
});
// Plain HTTP on 127.0.0.1: no proxy in front, so the provider's secure-cookie checks do not apply.
provider.proxy = false;

function b64url(value) {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

// Re-sign an ID token the provider issued, with the changes a test asked for.
function altered(idToken) {
  const [, payloadPart] = idToken.split('.');
  const payload = JSON.parse(Buffer.from(payloadPart, 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  if (idTokenChanges.nonce !== undefined) payload.nonce = idTokenChanges.nonce;
  if (idTokenChanges.aud !== undefined) payload.aud = idTokenChanges.aud;
  if (idTokenChanges.iss !== undefined) payload.iss = idTokenChanges.iss;
  if (idTokenChanges.exp_offset !== undefined) {
    payload.exp = now + idTokenChanges.exp_offset;
    payload.iat = Math.min(payload.iat, payload.exp - 60);
  }
  const signer = keys[idTokenChanges.sign_with ?? 'A'];
  const kid = idTokenChanges.kid ?? signer.publicJwk.kid;
  const signingInput = `${b64url({ alg: 'RS256', typ: 'JWT', kid })}.${b64url(payload)}`;
  const signature = rsaSign('sha256', Buffer.from(signingInput), signer.privateKey).toString('base64url');
  return `${signingInput}.${signature}`;
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/jwks') {
    jwksFetches += 1;
    ctx.type = 'application/jwk-set+json';
    ctx.body = { keys: published.map((name) => keys[name].publicJwk) };
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token && Object.keys(idTokenChanges).length) {
    ctx.body = { ...ctx.body, id_token: altered(ctx.body.id_token) };
  }
});

const callback = provider.callback();

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      try { resolve(body ? JSON.parse(body) : {}); } catch (error) { reject(error); }
    });
  });
}

const server = http.createServer(async (req, res) => {
  if (req.url.startsWith('/test/')) {
    const reply = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.method === 'POST' && req.url === '/test/users') {
        Object.assign(users, await readJson(req));
        return reply(200, { users: Object.keys(users) });
      }
      if (req.method === 'POST' && req.url === '/test/id-token') {
        idTokenChanges = await readJson(req);
        return reply(200, idTokenChanges);
      }
      if (req.method === 'POST' && req.url === '/test/jwks') {
        published = (await readJson(req)).publish ?? ['A'];
        return reply(200, { publish: published });
      }
      if (req.method === 'GET' && req.url === '/test/stats') {
        return reply(200, { jwks_fetches: jwksFetches });
      }
      return reply(404, { error: 'unknown test control' });
    } catch (error) {
      return reply(400, { error: String(error) });
    }
  }
  return callback(req, res);
});

server.listen(port, '127.0.0.1', () => {
  // The fixture waits for this line.
  process.stdout.write(`listening ${issuer}\n`);
});
