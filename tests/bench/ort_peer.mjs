#!/usr/bin/env node
// tests/bench/ort_peer.mjs: the peer of `moonbench score` in tests/bench/score.sh: ONNX
// Runtime (onnxruntime-node, CPU, installed in tests/onnx as the export tests install it)
// running an exported model in memory on rows already in memory; only the run call is timed.
//
//   node ort_peer.mjs MODEL.onnx ROWS.f32 NFEATURES THREADS RUNS
//
// ROWS.f32: row-major little-endian float32 (deploy_data.py raw). One untimed run first,
// then RUNS timed runs of session.run on all the rows at once; prints one JSON line with the
// median (wall and the process's CPU time), the threads (intraOpNumThreads; 0 = ORT's default, one per core) and the sum of
// the last class's probability over the rows (the caller compares it with moonbench's).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../onnx/package.json'));
const fail = (msg) => { process.stderr.write(`ort_peer.mjs: ${msg}\n`); process.exit(1); };

const [model, rowsPath, nfArg, thrArg, runsArg] = process.argv.slice(2);
if (!runsArg) fail('usage: node ort_peer.mjs MODEL.onnx ROWS.f32 NFEATURES THREADS RUNS');
let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  fail(`cannot load onnxruntime-node (ONNXRUNTIME_NODE_INSTALL=skip npm ci in tests/onnx): ${e.message}`);
}
const nf = Number(nfArg), threads = Number(thrArg), runs = Number(runsArg);
const buf = readFileSync(rowsPath);
const x = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
if (x.length % nf !== 0) fail(`${rowsPath}: ${x.length} floats is not a multiple of ${nf}`);
const n = x.length / nf;
const opts = { executionProviders: ['cpu'], logSeverityLevel: 3 };
if (threads > 0) opts.intraOpNumThreads = threads;
const session = await ort.InferenceSession.create(model, opts);
const input = { [session.inputNames[0]]: new ort.Tensor('float32', x, [n, nf]) };
let out = await session.run(input);
const times = [], cpus = [];
for (let i = 0; i < runs; i++) {
  const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
  out = await session.run(input);
  times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  const c = process.cpuUsage(c0);
  cpus.push((c.user + c.system) / 1e6);
}
const mid = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const median = mid(times);
const p = out.probabilities ? out.probabilities.data : out.variable.data;
const k = p.length / n;
let sum = 0;
for (let i = 0; i < n; i++) sum += p[i * k + k - 1];
process.stdout.write(JSON.stringify({
  rows: n, threads, runs, run_seconds: median, times, rows_per_s: n / median, cpu_seconds: mid(cpus), rows_per_cpu_s: n / mid(cpus), proba1_sum: sum,
  onnxruntime: ort.env.versions ? ort.env.versions.common : 'onnxruntime-node',
}) + '\n');
