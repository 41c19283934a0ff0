// Drives caddy-logout with Ory's published JavaScript SDK (@ory/client),
// unchanged: the same calls a Kratos front end makes. Run by
// tests/sdk_test.go as: node logout.mjs <base URL> <cookie name=value>
// It prints one JSON line of what it saw and exits non-zero on a mismatch.
import { Configuration, FrontendApi } from "@ory/client";

const [base, cookie] = process.argv.slice(2);
const ory = new FrontendApi(new Configuration({ basePath: base }));
const saw = {};

function check(cond, what) {
  if (!cond) {
    console.log(JSON.stringify(saw));
    console.error("SDK compatibility failure: " + what);
    process.exit(1);
  }
}

// 1. Create a browser logout flow for the session cookie.
const created = await ory.createBrowserLogoutFlow({ cookie, returnTo: base + "/" });
saw.create = { status: created.status, data: created.data };
check(created.status === 200, "createBrowserLogoutFlow status");
check(typeof created.data.logout_token === "string" && created.data.logout_token.length > 0, "logout_token");
check(new URL(created.data.logout_url).searchParams.get("token") === created.data.logout_token, "logout_url carries the token");

// 2. Perform it, as an SPA does (the SDK asks for JSON, so 204).
const performed = await ory.updateLogoutFlow({ token: created.data.logout_token, cookie });
saw.perform = { status: performed.status };
check(performed.status === 204, "updateLogoutFlow status");

// 3. The session is gone: the SDK sees Kratos's 401 error envelope.
try {
  await ory.createBrowserLogoutFlow({ cookie });
  check(false, "createBrowserLogoutFlow after logout succeeded");
} catch (err) {
  saw.afterLogout = { status: err.response?.status, data: err.response?.data };
  check(err.response?.status === 401, "401 after logout");
  check(err.response.data.error.id === "session_inactive", "error id session_inactive");
}

// 4. Native (API) logout with a session token.
const api = await ory.performNativeLogout({ performNativeLogoutBody: { session_token: "sdk-token-" + Date.now() } });
saw.native = { status: api.status };
check(api.status === 204, "performNativeLogout status");

// 5. An empty token is Kratos's 403.
try {
  await ory.performNativeLogout({ performNativeLogoutBody: { session_token: "" } });
  check(false, "performNativeLogout with an empty token succeeded");
} catch (err) {
  saw.nativeEmpty = { status: err.response?.status, data: err.response?.data };
  check(err.response?.status === 403, "403 for an empty token");
  check(/could not be found, is invalid, or otherwise malformed/.test(err.response.data.error.reason), "403 reason");
}

console.log(JSON.stringify(saw));
