// An upstream that parses request bodies exactly as Paperclip's server
// does (server/src/app.ts: express.json({ limit: "10mb", verify })), and
// answers with what it parsed (and keeps it for GET /__seen): the top-level keys of req.body, its type,
// and the content-type / content-encoding it received.  Used by
// tests/integration/test_express_upstream.py, which installs express into
// the build tree and starts this on 127.0.0.1 (port 0: the port is printed
// as "PORT <n>" on stdout).
//
//   node express_upstream.js NPM_PREFIX
'use strict'

const path = require('path')
const prefix = process.argv[2]
const express = require(path.join(prefix, 'node_modules', 'express'))

const app = express()
app.use(express.json({
  limit: '10mb',
  verify: (req, _res, buf) => { req.rawBody = buf }
}))

function describe (b) {
  if (b === undefined) return 'undefined'
  if (b === null) return 'null'
  if (Array.isArray(b)) return 'array'
  return typeof b
}

// Everything body-parser handed to a route, for the test to read
// directly (keyhole's policy never allows this path).
const seen = []
app.get('/__seen', (_req, res) => res.json(seen))

app.use((req, res) => {
  const b = req.body
  const rec = {
    method: req.method,
    path: req.path,
    ctype: req.headers['content-type'] ?? null,
    cenc: req.headers['content-encoding'] ?? null,
    bodyType: describe(b),
    keys: describe(b) === 'object' ? Object.keys(b) : [],
    rawLength: req.rawBody ? req.rawBody.length : 0
  }
  seen.push(rec)
  res.json(rec)
})

// body-parser's refusals (415 charset, 400 syntax ...), as JSON.
app.use((err, req, res, _next) => {
  seen.push({ method: req.method, path: req.path, parseError: err.type || String(err),
    ctype: req.headers['content-type'] ?? null, cenc: req.headers['content-encoding'] ?? null })
  res.status(err.status || 500).json({ parseError: err.type || String(err) })
})

const srv = app.listen(0, '127.0.0.1', () => {
  process.stdout.write('PORT ' + srv.address().port + '\n')
})
process.on('SIGTERM', () => process.exit(0))
