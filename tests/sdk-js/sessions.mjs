// Drives caddy-logout's self-service session endpoints with Ory's published
// JavaScript SDK (@ory/client), unchanged: the calls a Kratos front end
// makes for "your other devices". Run by tests/identity/sdk_test.go as:
//   node sessions.mjs <base URL> <cookie of the current session> <public ID of another session>
// It prints one JSON line of what it saw and exits non-zero on a mismatch.
import { Configuration, FrontendApi } from "@ory/client";

const [base, cookie, otherID] = process.argv.slice(2);
const ory = new FrontendApi(new Configuration({ basePath: base }));
const saw = {};

function check(cond, what) {
  if (!cond) {
    console.log(JSON.stringify(saw));
    console.error("SDK compatibility failure: " + what);
    process.exit(1);
  }
}

// 1. The other sessions of the current session's owner.
const listed = await ory.listMySessions({ cookie });
saw.list = { status: listed.status, ids: listed.data.map((s) => s.id), total: listed.headers["x-total-count"] };
check(listed.status === 200, "listMySessions status");
check(Array.isArray(listed.data), "listMySessions answers an array");
check(listed.data.some((s) => s.id === otherID && s.active === true), "the other session is listed, active");
check(listed.data.every((s) => typeof s.authenticated_at === "string" && typeof s.expires_at === "string"), "session times");

// 2. Log out that one.
const one = await ory.disableMySession({ id: otherID, cookie });
saw.disableOne = { status: one.status };
check(one.status === 204, "disableMySession status");
const after = await ory.listMySessions({ cookie });
check(!after.data.some((s) => s.id === otherID), "the revoked session is no longer listed");

// 3. The current session cannot be revoked this way: Kratos's 400.
try {
  await ory.disableMySession({ id: "not-a-uuid", cookie });
  check(false, "disableMySession with a bad ID succeeded");
} catch (err) {
  saw.badID = { status: err.response?.status, data: err.response?.data };
  check(err.response?.status === 400, "400 for a bad session ID");
}

// 4. Log out all the others.
const others = await ory.disableMyOtherSessions({ cookie });
saw.disableOthers = { status: others.status, data: others.data };
check(others.status === 200 && typeof others.data.count === "number", "disableMyOtherSessions answers a count");
const none = await ory.listMySessions({ cookie });
saw.afterAll = { ids: none.data.map((s) => s.id) };
check(none.data.length === 0, "no other session is left");

// 5. Without a session: Kratos's 401.
try {
  await ory.listMySessions({ cookie: "ory_kratos_session=none-" + Date.now() });
  check(false, "listMySessions without a known session succeeded");
} catch (err) {
  saw.noSession = { status: err.response?.status, data: err.response?.data };
  check([401, 403].includes(err.response?.status), "401/403 without a session the gateway knows");
}

console.log(JSON.stringify(saw));
