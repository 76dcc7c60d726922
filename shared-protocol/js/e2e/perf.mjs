// Web client performance in headless Chromium: 200 visible entities, every one moving,
// at 20 snapshots a second, decoded by the SDK and drawn by the web client's renderer
// with interpolation, for 30 s (the first 15 s are JIT warm-up, reported apart). Serves the SDK and the client's files itself (no
// server needed) and prints one JSON line: frames per second, frame work time, and
// snapshot decode+apply time (median, p99, max).
//
//   node shared-protocol/js/e2e/perf.mjs [entities] [seconds]   (default 200 30)
import { launch } from './browser.mjs';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join, normalize } from 'node:path';

const entities = Number(process.argv[2] ?? 200);
const seconds = Number(process.argv[3] ?? 30);
/** Snapshots of JIT warm-up (V8 tiers the decoder up within the first 15 s). */
const WARMUP = 300;
const root = fileURLToPath(new URL('../../..', import.meta.url));
const folders = { '/sdk/': join(root, 'shared-protocol/js/src'), '/play/': join(root, 'orchestrator/web/play') };
const server = createServer(async (req, res) => {
  const url = req.url ?? '/';
  if (url === '/') {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><canvas id="c" style="width:1280px;height:800px"></canvas>');
    return;
  }
  for (const [prefix, dir] of Object.entries(folders)) {
    if (!url.startsWith(prefix)) continue;
    const file = normalize(join(dir, url.slice(prefix.length)));
    if (!file.startsWith(dir)) break;
    try {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(await readFile(file));
      return;
    } catch { break; }
  }
  res.writeHead(404);
  res.end();
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await launch(process.env.ARCANE_JS_FLAGS ? [`--js-flags=${process.env.ARCANE_JS_FLAGS}`] : []);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(base);
  const result = await page.evaluate(async ({ n, seconds, warmup }) => {
    const sdk = await import('/sdk/index.js');
    const render = await import('/play/render.js');
    const canvas = document.getElementById('c');
    const cam = new render.Camera();
    cam.scale = 6;
    // The frames a zone would send: a full snapshot, then deltas where all n move.
    const pos = Array.from({ length: n }, (_, i) => [((i * 7919) % 12000) - 6000, ((i * 104729) % 8000) - 4000]);
    const kinds = ['Player', 'Enemy', 'Npc', 'Creature'];
    const frames = [];
    frames.push(sdk.encodeServerMessage({ Snapshot: {
      id: 1, tick: 1, baseline: 0, last_input_seq: 0, input_wait: null, leaves: [],
      enters: pos.map(([x, y], i) => ({ local: i, net_id: 1000 + i, state: { kind: kinds[i % 4], variant: 0, x_cm: x, y_cm: y, hp_pct: 100, flags: 0 } })),
      updates: [], own: null } }));
    for (let s = 2; s <= seconds * 20 + 2; s++) {
      const updates = pos.map((p, i) => {
        const dx = Math.round(Math.cos(s / 10 + i) * 40);
        const dy = Math.round(Math.sin(s / 10 + i) * 40);
        p[0] += dx; p[1] += dy;
        return { local: i, pos_delta: [dx, dy], hp_pct: i % 17 === 0 ? (s * 7) % 100 : null, flags: null };
      });
      frames.push(sdk.encodeServerMessage({ Snapshot: { id: s, tick: s, baseline: s - 1, last_input_seq: s, input_wait: null, leaves: [], enters: [], updates, own: null } }));
    }
    const view = new sdk.ClientView();
    const interp = new sdk.Interpolator();
    const decode = [];
    const work = [];
    let frameCount = 0;
    let next = 0;
    const t0 = performance.now();
    const feed = () => {
      const t = performance.now();
      const msg = sdk.decodeServerMessage(frames[next]);
      view.apply(msg.Snapshot);
      interp.push(msg.Snapshot.tick, view.entities().values());
      decode.push(performance.now() - t);
      next++;
    };
    feed();
    const timer = setInterval(() => { if (next < frames.length) feed(); }, 50);
    await new Promise((done) => {
      const frame = () => {
        const start = performance.now();
        if (start - t0 > seconds * 1000) {
          done();
          return;
        }
        const ctx = render.fit(canvas, cam);
        const tick = 1 + (start - t0) / 50 - 2;
        const list = [];
        for (const e of view.entities().values()) {
          const p = interp.at(e.net_id, tick) ?? { x: e.state.x_cm, y: e.state.y_cm };
          list.push({ ...e.state, net_id: e.net_id, x_cm: p.x, y_cm: p.y });
        }
        render.drawGround(ctx, cam, [-10000, -10000, 10000, 10000]);
        render.drawEntities(ctx, cam, list, null, null);
        work.push(performance.now() - start);
        frameCount++;
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    });
    clearInterval(timer);
    const elapsed = (performance.now() - t0) / 1000;
    const q = (a, f) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * f))]; };
    return {
      entities: view.entities().size, snapshots: decode.length, fps: frameCount / elapsed,
      frameWorkMs: { p50: q(work, 0.5), p95: q(work, 0.95), max: Math.max(...work) },
      decodeApplyMs: { p50: q(decode, 0.5), p99: q(decode, 0.99), max: Math.max(...decode) },
      steadyDecodeApplyMs: decode.length > warmup ? { p50: q(decode.slice(warmup), 0.5), p99: q(decode.slice(warmup), 0.99), max: Math.max(...decode.slice(warmup)) } : null,
      snapshotBytes: frames[2].length,
      slowest: decode.map((d, i) => [i, d]).sort((a, b) => b[1] - a[1]).slice(0, 8),
    };
  }, { n: entities, seconds, warmup: WARMUP });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
  server.close();
}
