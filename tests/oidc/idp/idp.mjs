// The OpenID provider of the OIDC single logout tests: oidc-provider (an
// OpenID Certified implementation) with its built-in login form
// (devInteractions: any login, any password), RP-initiated logout and
// Back-Channel Logout 1.0. Configured from the environment by the Go test:
//   IDP_HOST     the loopback address to listen on
//   IDP_PORT     its port
//   IDP_JWKS     the signing keys, a private JWKS (the test keeps a copy,
//                so it can sign logout tokens exactly as the provider would)
//   IDP_CLIENTS  the clients, a JSON array of oidc-provider client metadata
// It prints one JSON line per event the test waits for: ready, and each
// back-channel logout it sent (backchannel.success / backchannel.error).
import Provider from 'oidc-provider';

const host = process.env.IDP_HOST;
const port = Number(process.env.IDP_PORT);
const issuer = `http://${host}:${port}`;
const log = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));

const provider = new Provider(issuer, {
  clients: JSON.parse(process.env.IDP_CLIENTS),
  jwks: JSON.parse(process.env.IDP_JWKS),
  cookies: { keys: ['caddy-logout-test-cookie-key-0123456789'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.com`, email_verified: true, name: id };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
});

provider.on('backchannel.success', (ctx, client, accountId, sid) => {
  log('backchannel.success', { client: client.clientId, sub: accountId, sid });
});
provider.on('backchannel.error', (ctx, err, client, accountId, sid) => {
  log('backchannel.error', { client: client.clientId, sub: accountId, sid, error: String(err && err.message) });
});
provider.on('server_error', (ctx, err) => log('server_error', { error: String(err && err.stack) }));

provider.listen(port, host, () => log('ready', { issuer }));
