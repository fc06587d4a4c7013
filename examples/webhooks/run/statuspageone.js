// Runs StatusPageOne's published signature check (../statuspageone.js, copied unchanged from
// its webhook document) inside the server of the document's "Step 1" (express with
// express.json()), which it assumes. Listens on 127.0.0.1:$PORT (0 or unset: any free port),
// prints "listening PORT", then "verified BODY" for each delivery the snippet accepted.
// Needs express: NODE_PATH=$HOME/.cache/lookout-npm/node_modules.
const express = require("express");
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const app = express();
app.use(express.json());
global.app = app;
global.require = require;
global.handleWebhook = (body) => console.log(`verified ${JSON.stringify(body)}`);

const snippet = path.join(__dirname, "..", "statuspageone.js");
vm.runInThisContext(fs.readFileSync(snippet, "utf8"), { filename: snippet });

const server = app.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
