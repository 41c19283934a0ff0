'use strict';
// reading is the echo apps' answer: the value read (as hex of its UTF-8
// bytes when it is a string, as JSON when the parser made something else
// of it) and the Cookie header as it reached the app (hex of its bytes;
// Node's HTTP parser reads header bytes as Latin-1).
exports.reading = (value, raw) => {
  const out = { type: 'missing', value: '', other: '', raw: raw === undefined ? '' : Buffer.from(raw, 'latin1').toString('hex') };
  if (typeof value === 'string') {
    out.type = 'string';
    out.value = Buffer.from(value, 'utf8').toString('hex');
  } else if (value !== undefined) {
    out.type = 'other';
    out.other = JSON.stringify(value);
  }
  return out;
};
