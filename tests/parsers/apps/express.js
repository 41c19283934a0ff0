// Echo app: Express 4 with cookie-parser, which decodes values and turns
// j:-prefixed values into JSON (req.cookies). Prints what the app reads
// for the cookie named in ?name=.
'use strict';
const express = require('express');
const cookieParser = require('cookie-parser');
const { reading } = require('./echo-common');

const app = express();
app.use(cookieParser());
app.use((req, res) => {
  const name = req.query.name;
  const jar = req.cookies;
  res.json(reading(Object.prototype.hasOwnProperty.call(jar, name) ? jar[name] : undefined, req.headers.cookie));
});
app.listen(Number(process.argv[2]), '127.0.0.1');
