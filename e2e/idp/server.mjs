// A real OpenID Connect provider for Stent Desk's SSO tests (never for anything else):
// oidc-provider with its development login and consent pages, which accept any password.
//
//   node e2e/idp/server.mjs --port 9400 --client-id stent-desk --client-secret s3cret \
//     --redirect-uri http://127.0.0.1:8000/auth/callback \
//     --post-logout-redirect-uri http://127.0.0.1:8000/login
//
// Every option can also come from the environment (IDP_PORT, IDP_CLIENT_ID,
// IDP_CLIENT_SECRET, IDP_REDIRECT_URIS, IDP_POST_LOGOUT_REDIRECT_URIS; the URI lists
// comma-separated). The issuer is http://127.0.0.1:<port>. Log in as one of USERS below.
import { generateKeyPairSync } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
  },
});

const list = (text) => (text || '').split(',').map((item) => item.trim()).filter(Boolean);
const port = Number(args.port || process.env.IDP_PORT || 9400);
const clientId = args['client-id'] || process.env.IDP_CLIENT_ID || 'stent-desk';
const clientSecret = args['client-secret'] || process.env.IDP_CLIENT_SECRET || 'stent-desk-test-secret';
const redirectUris = args['redirect-uri'] || list(process.env.IDP_REDIRECT_URIS);
const postLogoutRedirectUris = args['post-logout-redirect-uri']
  || list(process.env.IDP_POST_LOGOUT_REDIRECT_URIS);
if (!redirectUris.length) {
  console.error('server.mjs: give at least one --redirect-uri (or IDP_REDIRECT_URIS)');
  process.exit(2);
}

// The test people. `nomail` has no email claim, `outsider` an email outside example.com,
// `unverified` an email its provider has not verified: each must be refused by the app.
const USERS = {
  fiona: { name: 'Fiona Finance', email: 'fiona@example.com', groups: ['finance'] },
  eddie: { name: 'Eddie Engineer', email: 'eddie@example.com', groups: ['engineering'] },
  adam: { name: 'Adam Admin', email: 'adam@example.com', groups: ['stent-admins'] },
  audrey: { name: 'Audrey Auditor', email: 'audrey@example.com', groups: ['stent-auditors'] },
  iris: { name: 'Iris Initiator', email: 'iris@example.com', groups: ['finance'] },
  nomail: { name: 'No Mail', groups: ['finance'] },
  outsider: { name: 'Oscar Outsider', email: 'oscar@example.net', groups: ['finance'] },
  unverified: { name: 'Una Unverified', email: 'una@example.com', verified: false, groups: [] },
};

function claimsOf(login) {
  const user = USERS[login];
  const claims = { sub: login, name: user.name, groups: user.groups };
  if (user.email) {
    claims.email = user.email;
    claims.email_verified = user.verified ?? true;
  }
  return claims;
}

// Keys made at each start: nothing secret is checked in, and tokens of an older run fail.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-idp', use: 'sig', alg: 'RS256' };

const plainPage = (title, body) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogoutRedirectUris,
  }],
  async findAccount(ctx, id) {
    if (!Object.hasOwn(USERS, id)) return undefined;
    return { accountId: id, async claims() { return claimsOf(id); } };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false, // the claims of the granted scopes go into the ID token too
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = plainPage('Sign out of the test provider?', `${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = plainPage('Signed out', '<p>You are signed out of the test provider.</p>');
      },
    },
  },
  jwks: { keys: [signingKey] },
  cookies: { keys: ['stent-desk-test-idp-cookie-key-1'] },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = plainPage('Provider error', `<pre>${JSON.stringify(out, null, 2)
      .replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`)}</pre>`);
  },
});

// The development pages @import a web font; this machine is offline, and a browser would
// log the failed request as an error. Serve them without it (and answer for a favicon).
provider.use(async (ctx, next) => {
  if (ctx.path === '/favicon.ico') {
    ctx.status = 204;
    return;
  }
  await next();
  if (typeof ctx.body === 'string' && ctx.response.is('html')) {
    ctx.body = ctx.body.replace(/@import url\(https?:[^)]*\);?/g, '');
  }
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`test IdP on http://127.0.0.1:${port} for client ${clientId}`);
});
