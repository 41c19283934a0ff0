// Drives caddy-logout with the JavaScript SDK that Kratos v0.7 front ends
// use (@ory/kratos-client 0.7, its V0alpha1Api over axios), unchanged.
// Run by tests/sdk_test.go as:
//   node logout-v0.7.mjs <base URL> <cookie name=value> <error id>
// where the error id is one the gateway sent a browser to its error UI
// with. It prints one JSON line of what it saw and exits non-zero on a
// mismatch.
import kratos from "@ory/kratos-client";

const { Configuration, V0alpha1Api } = kratos;
const [base, cookie, errorID] = process.argv.slice(2);
// No redirects followed: a 303 where a 204 belongs must show.
const ory = new V0alpha1Api(new Configuration({ basePath: base, baseOptions: { maxRedirects: 0 } }));
const saw = {};

function check(cond, what) {
  if (!cond) {
    console.log(JSON.stringify(saw));
    console.error("SDK compatibility failure: " + what);
    process.exit(1);
  }
}

// 1. A logout URL for the session cookie, as a v0.7 server-side front end
//    asks for it. v0.7's answer has logout_url only; the token is in it.
const created = await ory.createSelfServiceLogoutFlowUrlForBrowsers(cookie);
saw.create = { status: created.status, data: created.data };
check(created.status === 200, "createSelfServiceLogoutFlowUrlForBrowsers status");
const logoutURL = new URL(created.data.logout_url);
const token = logoutURL.searchParams.get("token");
check(logoutURL.pathname === "/self-service/logout" && token, "logout_url carries a token");

// 2. Open it the way the SDK does (axios asks for JSON): 204.
const performed = await ory.submitSelfServiceLogoutFlow(token, { headers: { Cookie: cookie } });
saw.perform = { status: performed.status };
check(performed.status === 204, "submitSelfServiceLogoutFlow status");

// 3. The session is gone: Kratos's 401 envelope.
try {
  await ory.createSelfServiceLogoutFlowUrlForBrowsers(cookie);
  check(false, "createSelfServiceLogoutFlowUrlForBrowsers after logout succeeded");
} catch (err) {
  saw.afterLogout = { status: err.response?.status, data: err.response?.data };
  check(err.response?.status === 401, "401 after logout");
  check(err.response.data.error.id === "session_inactive", "error id session_inactive");
  check(err.response.data.error.reason === "No active session was found in this request.", "401 reason");
}

// 4. Native logout with a session token, then an empty one (403).
const native = await ory.submitSelfServiceLogoutFlowWithoutBrowser({ session_token: "v07-token-" + Date.now() });
saw.native = { status: native.status };
check(native.status === 204, "submitSelfServiceLogoutFlowWithoutBrowser status");
try {
  await ory.submitSelfServiceLogoutFlowWithoutBrowser({ session_token: "" });
  check(false, "submitSelfServiceLogoutFlowWithoutBrowser with an empty token succeeded");
} catch (err) {
  saw.nativeEmpty = { status: err.response?.status, data: err.response?.data };
  check(err.response?.status === 403, "403 for an empty token");
  check(err.response.data.error.reason ===
    "The provided Ory Session Token could not be found, is invalid, or otherwise malformed.", "403 reason");
}

// 5. The error UI fetches the error a browser was sent with.
const fe = await ory.getSelfServiceError(errorID);
saw.error = { status: fe.status, data: fe.data };
check(fe.status === 200 && fe.data.id === errorID, "getSelfServiceError");
check(fe.data.error.id === "session_inactive" && fe.data.error.code === 401, "the error itself");

console.log(JSON.stringify(saw));
