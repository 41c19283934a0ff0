// Echo app: Node's http server and the cookie package, as an app that
// parses its Cookie header itself reads it. Prints what the parser reads
// for the cookie named in ?name=.
'use strict';
const http = require('http');
const cookie = require('cookie');
const { reading } = require('./echo-common');

http.createServer((req, res) => {
  const name = new URL(req.url, 'http://x').searchParams.get('name');
  const raw = req.headers.cookie;
  const jar = cookie.parse(raw || '');
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(reading(Object.prototype.hasOwnProperty.call(jar, name) ? jar[name] : undefined, raw)));
}).listen(Number(process.argv[2]), '127.0.0.1');
