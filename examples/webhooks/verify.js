// Verifies a Lookout webhook. Usage: node verify.js SECRET BODY_FILE SIGNATURE TIMESTAMP
const crypto = require("crypto");
const fs = require("fs");

const TOLERANCE_SECS = 300; // refuse requests older (or newer) than five minutes: replays

// `body`: the raw request bytes (a Buffer); `signature`, `timestamp`: the
// x-lookout-signature and x-lookout-timestamp headers.
function verify(secret, body, signature, timestamp, nowSecs = Date.now() / 1000) {
  const sent = Number(timestamp);
  if (!Number.isInteger(sent) || Math.abs(nowSecs - sent) > TOLERANCE_SECS) return false;
  const mac = crypto.createHmac("sha256", secret).update(`${timestamp}.`).update(body);
  const expected = Buffer.from(`sha256=${mac.digest("hex")}`);
  const given = Buffer.from(signature);
  return expected.length === given.length && crypto.timingSafeEqual(expected, given);
}

if (require.main === module) {
  const [secret, bodyFile, signature, timestamp] = process.argv.slice(2);
  const ok = verify(secret, fs.readFileSync(bodyFile), signature, timestamp);
  console.log(ok ? "valid" : "invalid");
  process.exit(ok ? 0 : 1);
}

module.exports = { verify };
