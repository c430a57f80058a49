#!/usr/bin/env node
// Score rows with an ONNX model in ONNX Runtime (onnxruntime-node, CPU), for
// tests/cli/export.bats.
//
//   node run.mjs MODEL.onnx ROWS.csv
//
// ROWS.csv: one row of the model's input X per line, comma-separated numbers
// ("nan" or an empty field is NaN, "inf" and "-inf" infinities), no header. Prints one line per row:
// "label,p_0,...,p_k" (the class index and the probabilities) for a
// classifier, the value for a regressor, numbers with 9 significant digits.
// Exit status 1 with "run.mjs: ..." on stderr when loading or running fails.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const fail = (msg) => { process.stderr.write(`run.mjs: ${msg}\n`); process.exit(1); };

const [modelPath, rowsPath] = process.argv.slice(2);
if (!modelPath || !rowsPath) fail('usage: node run.mjs MODEL.onnx ROWS.csv');
let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  fail(`cannot load onnxruntime-node (npm install in tests/onnx): ${e.message}`);
}

const lines = readFileSync(rowsPath, 'utf8').split('\n').filter((l) => l.length > 0);
// C's printf spells infinities "inf" ("-inf"), which Number() would read as NaN
const num = (v) => (v === '' || v === 'nan' || v === '-nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v));
const rows = lines.map((l) => l.split(',').map(num));
const width = rows.length ? rows[0].length : 0;
rows.forEach((r, i) => { if (r.length !== width) fail(`${rowsPath}: line ${i + 1} has ${r.length} values, not ${width}`); });
const flat = Float32Array.from(rows.flat());

const fmt = (x) => (Number.isNaN(x) ? 'nan' : Number(x.toPrecision(9)).toString());
try {
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  const out = await session.run({ X: new ort.Tensor('float32', flat, [rows.length, width]) });
  const res = [];
  if (out.variable) {
    for (let i = 0; i < rows.length; i++) res.push(fmt(out.variable.data[i]));
  } else {
    const k = out.probabilities.dims[1];
    for (let i = 0; i < rows.length; i++) {
      const p = Array.from(out.probabilities.data.slice(i * k, (i + 1) * k), fmt);
      res.push([Number(out.label.data[i]), ...p].join(','));
    }
  }
  process.stdout.write(res.join('\n') + '\n');
} catch (e) {
  fail(`${modelPath}: ${e.message}`);
}
