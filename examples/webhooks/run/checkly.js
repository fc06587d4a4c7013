// Runs Checkly's published Node receiver (../checkly.js, copied unchanged from its webhook
// document). The snippet listens on port 4242; this runner makes express listen on
// 127.0.0.1:$PORT instead (0 or unset: any free port) and prints "listening PORT". The
// snippet itself prints "Signature is valid" for each delivery it accepts.
// Needs express and body-parser: NODE_PATH=$HOME/.cache/lookout-npm/node_modules.
const express = require("express");
const path = require("path");

const listen = express.application.listen;
express.application.listen = function listenOnLoopback() {
  const server = listen.call(this, Number(process.env.PORT || 0), "127.0.0.1", () => {
    console.log(`listening ${server.address().port}`);
  });
  return server;
};

require(path.join(__dirname, "..", "checkly.js"));
