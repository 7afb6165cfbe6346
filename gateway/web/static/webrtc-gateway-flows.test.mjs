// Call flows of webrtc-gateway.js against a scripted gateway (a fake fetch)
// and a fake RTCPeerConnection: the requests the library sends for each
// action, and its handling of what /wait delivers (node --test).
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import gw from './webrtc-gateway.js';

const { Client, MediaSession } = gw;

// ------------------------------------------------------------ fake media

let trackIds = 0;
class FakeTrack {
  constructor(kind) {
    this.kind = kind;
    this.id = `track${++trackIds}`;
    this.enabled = true;
    this.readyState = 'live';
  }

  stop() {
    this.readyState = 'ended';
  }
}

class FakeStream {
  constructor(tracks) {
    this.tracks = tracks ? [...tracks] : [];
  }

  getTracks() { return [...this.tracks]; }
  getAudioTracks() { return this.tracks.filter((t) => t.kind === 'audio'); }
  getVideoTracks() { return this.tracks.filter((t) => t.kind === 'video'); }
  addTrack(t) { this.tracks.push(t); }
}

const media = { deny: false, requests: [] };

const canSend = (d) => d === 'sendrecv' || d === 'sendonly';
const canRecv = (d) => d === 'sendrecv' || d === 'recvonly';
function directionOf(send, recv) {
  return send && recv ? 'sendrecv' : send ? 'sendonly' : recv ? 'recvonly' : 'inactive';
}

function parseSections(sdp) {
  const out = [];
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) out.push({ kind: line.slice(2).split(' ')[0], mid: null, dir: 'sendrecv' });
    else if (line.startsWith('a=mid:')) out[out.length - 1].mid = line.slice(6);
    else if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line) && out.length) out[out.length - 1].dir = line.slice(2);
  }
  return out;
}

// FakePC models what the library relies on: transceivers, the offer/answer
// state machine, rollback, non-trickle gathering, track events, DTMF.
class FakePC extends EventTarget {
  constructor(config) {
    super();
    this.config = config;
    this.transceivers = [];
    this.signalingState = 'stable';
    this.iceGatheringState = 'new';
    this.iceConnectionState = 'new';
    this.localDescription = null;
    this.remoteDescription = null;
    this.closed = false;
    this.addedCandidates = [];
    this.dtmf = [];
    this.version = 0;
    this.remoteOfferDirs = null;
    this.remoteStream = new FakeStream();
    FakePC.instances.push(this);
  }

  _transceiver(kind, mid, fromRemote) {
    const pc = this;
    const t = {
      kind,
      mid,
      fromRemote,
      direction: fromRemote ? 'recvonly' : 'sendrecv',
      currentDirection: null,
      sender: {
        track: null,
        dtmf: {
          toneBuffer: '',
          canInsertDTMF: true,
          insertDTMF(tones, duration, gap) {
            pc.dtmf.push({ tones, duration, gap });
            this.toneBuffer = tones;
          },
        },
      },
      receiver: { track: new FakeTrack(kind) },
      announced: false,
    };
    this.transceivers.push(t);
    return t;
  }

  addTrack(track) {
    let t = this.transceivers.find((x) => x.kind === track.kind && x.fromRemote && !x.sender.track);
    if (!t) t = this._transceiver(track.kind, String(this.transceivers.length), false);
    t.sender.track = track;
    t.direction = 'sendrecv';
    return t.sender;
  }

  getTransceivers() { return [...this.transceivers]; }
  getSenders() { return this.transceivers.map((t) => t.sender); }

  _sdp(kind) {
    const lines = ['v=0', `o=- 1 ${++this.version} IN IP4 127.0.0.1`, 's=-', 't=0 0',
      `a=group:BUNDLE ${this.transceivers.map((t) => t.mid).join(' ')}`];
    this.transceivers.forEach((t, i) => {
      let dir = t.direction;
      if (kind === 'answer') {
        const remote = this.remoteOfferDirs[i];
        dir = directionOf(canSend(t.direction) && canRecv(remote), canRecv(t.direction) && canSend(remote));
      }
      lines.push(`m=${t.kind} 9 UDP/TLS/RTP/SAVPF 111 0 126`, 'c=IN IP4 0.0.0.0', `a=mid:${t.mid}`, `a=${dir}`,
        'a=rtpmap:111 opus/48000/2', 'a=rtpmap:126 telephone-event/8000');
    });
    return lines.join('\r\n') + '\r\n';
  }

  _withCandidates(sdp) {
    return sdp.replace(/(a=mid:(\S+)\r\n)/g, (m, line, mid) =>
      `${line}a=candidate:${mid}1 1 udp 2122260223 192.0.2.10 5000${mid} typ host\r\n`);
  }

  async createOffer() {
    return { type: 'offer', sdp: this._sdp('offer') };
  }

  async createAnswer() {
    if (this.signalingState !== 'have-remote-offer') throw new Error('InvalidStateError: no remote offer');
    return { type: 'answer', sdp: this._sdp('answer') };
  }

  async setLocalDescription(desc) {
    if (this.closed) throw new Error('InvalidStateError: closed');
    if (desc.type === 'rollback') {
      this.signalingState = 'stable';
      this.localDescription = this.stableLocal;
      return;
    }
    if (desc.type === 'offer') {
      if (this.signalingState !== 'stable') throw new Error(`InvalidStateError: offer in ${this.signalingState}`);
      this.stableLocal = this.localDescription;
      this.signalingState = 'have-local-offer';
    } else {
      if (this.signalingState !== 'have-remote-offer') throw new Error('InvalidStateError: answer without offer');
      this.signalingState = 'stable';
    }
    if (this.iceGatheringState === 'complete') {
      this.localDescription = { type: desc.type, sdp: this._withCandidates(desc.sdp) };
      return;
    }
    this.localDescription = { type: desc.type, sdp: desc.sdp };
    this.iceGatheringState = 'gathering';
    if (FakePC.gatherNever) return;
    setTimeout(() => {
      if (this.closed) return;
      this.localDescription = { type: this.localDescription.type, sdp: this._withCandidates(this.localDescription.sdp) };
      this.iceGatheringState = 'complete';
      this.dispatchEvent(Object.assign(new Event('icecandidate'), { candidate: null }));
      this.dispatchEvent(new Event('icegatheringstatechange'));
    }, FakePC.gatherDelay);
  }

  async setRemoteDescription(desc) {
    if (this.closed) throw new Error('InvalidStateError: closed');
    if (!/^v=0/.test(desc.sdp)) throw new Error('OperationError: bad SDP');
    const sections = parseSections(desc.sdp);
    if (desc.type === 'offer') {
      if (this.signalingState !== 'stable') throw new Error(`InvalidStateError: remote offer in ${this.signalingState}`);
      sections.forEach((s, i) => {
        if (!this.transceivers[i]) this._transceiver(s.kind, s.mid, true);
      });
      this.remoteOfferDirs = sections.map((s) => s.dir);
      this.signalingState = 'have-remote-offer';
    } else {
      if (this.signalingState !== 'have-local-offer') throw new Error(`InvalidStateError: answer in ${this.signalingState}`);
      this.signalingState = 'stable';
    }
    this.remoteDescription = desc;
    for (const t of this.transceivers) {
      if (t.announced) continue;
      t.announced = true;
      this.dispatchEvent(Object.assign(new Event('track'), { track: t.receiver.track, streams: [this.remoteStream] }));
    }
  }

  async addIceCandidate(init) {
    this.addedCandidates.push(init);
  }

  async getStats() {
    return new Map([['O', { id: 'O', type: 'outbound-rtp', kind: 'audio', packetsSent: 10 }]]);
  }

  close() {
    this.closed = true;
    this.signalingState = 'closed';
  }
}

// ------------------------------------------------------------ fake gateway

const BASE = 'https://gw.test:8443';

// Gateway scripts the HTTP side: it records every request, answers sign-in
// and messages as told, and holds each /wait until deliver() is called.
class Gateway {
  constructor() {
    this.requests = [];
    this.taken = new Set();
    this.watchers = [];
    this.waits = []; // outstanding /wait: {resolve, reject}
    this.queued = []; // deliveries made while no /wait was outstanding
    this.signIn = () => new Response('anon=S1\n1001,1\n', { status: 200 });
    this.message = () => new Response('', { status: 200 });
    this.fetch = this.fetch.bind(this);
  }

  async fetch(url, init) {
    const u = new URL(url);
    const req = {
      method: init.method,
      path: u.pathname,
      query: u.search.slice(1),
      body: init.body,
      init,
    };
    assert.equal(u.origin, BASE);
    this.requests.push(req);
    this.watchers = this.watchers.filter((w) => !w(req));
    if (init.signal && init.signal.aborted) throw new DOMException('aborted', 'AbortError');
    switch (u.pathname) {
      case '/sign_in': return this.signIn(req);
      case '/sign_out': return new Response('', { status: 200 });
      case '/message': return this.message(req);
      case '/wait': return this._wait(init.signal);
      default: throw new Error(`unexpected ${u.pathname}`);
    }
  }

  _wait(signal) {
    if (this.queued.length) return this.queued.shift()();
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      this.waits.push(w);
      if (signal) {
        signal.addEventListener('abort', () => {
          this.waits = this.waits.filter((x) => x !== w);
          reject(new DOMException('aborted', 'AbortError'));
        });
      }
    });
  }

  // deliver answers the outstanding /wait (or the next one).
  deliver(body, pragma, status) {
    const respond = () => new Response(body, { status: status || 200, headers: pragma ? { Pragma: pragma } : {} });
    const w = this.waits.shift();
    if (w) w.resolve(respond());
    else this.queued.push(async () => respond());
  }

  failWait(err) {
    this.waits.shift().reject(err);
  }

  // next resolves with the first request matching pred not returned before.
  next(pred, what) {
    const found = this.requests.find((r) => !this.taken.has(r) && pred(r));
    if (found) {
      this.taken.add(found);
      return Promise.resolve(found);
    }
    return withTimeout(new Promise((resolve) => {
      this.watchers.push((r) => {
        if (this.taken.has(r) || !pred(r)) return false;
        this.taken.add(r);
        resolve(r);
        return true;
      });
    }), what || 'request');
  }

  nextMessage(prefix) {
    return this.next((r) => r.path === '/message' && r.body.startsWith(prefix), `message ${prefix}`);
  }

  async nextRoap(type) {
    const r = await this.nextMessage(`RSMP {"messageType":"${type}"`);
    return { req: r, to: new URLSearchParams(r.query).get('to'), msg: JSON.parse(r.body.slice(5)) };
  }

  messages(prefix) {
    return this.requests.filter((r) => r.path === '/message' && r.body.startsWith(prefix));
  }

  // waitPolling resolves once a /wait is outstanding.
  async waitPolling() {
    await until(() => this.waits.length === 1, 'a /wait outstanding');
  }
}

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 2000);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function until(cond, what) {
  await withTimeout((async () => {
    while (!cond()) await new Promise((r) => setTimeout(r, 1));
  })(), what);
}

function once(callbacks, what) {
  return withTimeout(new Promise((resolve) => {
    const h = (...args) => {
      callbacks.remove(h);
      resolve(args[0]);
    };
    callbacks.add(h);
  }), what || 'event');
}

function gatewaySdp(dir) {
  return ['v=0', 'o=- 99 1 IN IP4 192.0.2.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 0 101', 'c=IN IP4 192.0.2.1', 'a=mid:0', `a=${dir || 'sendrecv'}`,
    'a=candidate:9 1 udp 2130706431 192.0.2.1 30000 typ host', ''].join('\r\n');
}

function answerBody(offer, extra) {
  return 'RSMP ' + JSON.stringify(Object.assign({
    messageType: 'ANSWER',
    sdp: gatewaySdp(),
    Candidates: [{ sdpMLineIndex: 0, sdpMid: '0', candidate: 'candidate:9 1 udp 2130706431 192.0.2.1 30000 typ host' },
      { sdpMLineIndex: 0, sdpMid: '0', candidate: 'candidate:10 1 udp 1694498815 203.0.113.5 30000 typ srflx' }],
    offererSessionId: offer.offererSessionId,
    answererSessionId: 7001,
    seq: offer.seq,
  }, extra));
}

function offerBody(extra) {
  return 'SDP ' + JSON.stringify(Object.assign({
    messageType: 'OFFER', sdp: gatewaySdp(), offererSessionId: 501, seq: 1, tiebreaker: 77,
  }, extra));
}

// ------------------------------------------------------------ fixtures

let gateway;
let clients;

beforeEach(() => {
  gw.setLogger(null);
  gateway = new Gateway();
  clients = [];
  FakePC.instances = [];
  FakePC.gatherDelay = 1;
  FakePC.gatherNever = false;
  media.deny = false;
  media.requests = [];
  Client.pollRetryDelay = 5;
  globalThis.fetch = gateway.fetch;
  globalThis.RTCPeerConnection = FakePC;
  globalThis.MediaStream = FakeStream;
  Object.defineProperty(globalThis, 'navigator', {
    configurable: true,
    writable: true,
    value: {
      mediaDevices: {
        async getUserMedia(c) {
          media.requests.push(c);
          if (media.deny) throw Object.assign(new Error('Permission denied'), { name: 'NotAllowedError' });
          return new FakeStream([c.audio && new FakeTrack('audio'), c.video && new FakeTrack('video')].filter(Boolean));
        },
      },
    },
  });
});

afterEach(async () => {
  for (const c of clients) await c.disconnect();
});

function newClient(extra) {
  const c = new Client(Object.assign({ webrtc_gateway: BASE + '/', ice_timeout: 200, noanswer_timeout: 2000, polling_timeout: 0 }, extra));
  clients.push(c);
  return c;
}

async function connected(extra) {
  const c = newClient(extra);
  await c.connect();
  await gateway.waitPolling();
  return c;
}

// An outgoing call to 5001, answered by the gateway.
async function establishedCall(c) {
  const s = new MediaSession(c);
  await s.makeOffer('5001');
  const { msg } = await gateway.nextRoap('OFFER');
  const established = once(s.onStateChange, 'established');
  gateway.deliver(answerBody(msg), '5001');
  await established;
  await gateway.nextRoap('OK');
  return { s, offer: msg };
}

// ------------------------------------------------------------ sign-in

test('connect: GET /sign_in?anon…, credentials included, then one /wait with the SSID', async () => {
  const c = newClient();
  const connectedEvent = once(c.onConnect);
  assert.equal(await c.connect(), 'S1');
  const info = await connectedEvent;
  assert.equal(info.id, 'S1');
  const signIn = gateway.requests[0];
  assert.equal(signIn.method, 'GET');
  assert.match(signIn.query, /^anon[0-9a-f]{32}$/);
  assert.equal(signIn.init.credentials, 'include');
  assert.equal(signIn.init.body, undefined);
  await gateway.waitPolling();
  const wait = gateway.requests.find((r) => r.path === '/wait');
  assert.equal(wait.query, 'id=S1');
  assert.equal(wait.init.credentials, 'include');
  assert.equal(c.connected, true);
  assert.equal(c.dn, null);
});

test('register with a password: POST /sign_in "dn:password" as raw text under a form content type', async () => {
  const c = newClient();
  const registered = once(c.onRegister);
  await c.register('1001', 'pa:ss word');
  assert.equal((await registered).dn, '1001');
  const req = gateway.requests[0];
  assert.equal(req.method, 'POST');
  assert.equal(req.query, '');
  assert.equal(req.body, '1001:pa:ss word');
  assert.deepEqual(req.init.headers, { 'Content-Type': 'application/x-www-form-urlencoded' });
  assert.equal(c.dn, '1001');
});

test('register without a password: GET /sign_in?<dn>; DN and password default to the configuration', async () => {
  const c = newClient();
  await c.register('1002');
  assert.equal(gateway.requests[0].method, 'GET');
  assert.equal(gateway.requests[0].query, '1002');
  await c.disconnect();
  const d = newClient({ sip_username: '1003', sip_password: 'pw' });
  await d.register();
  const req = gateway.requests.filter((r) => r.path === '/sign_in').pop();
  assert.equal(req.body, '1003:pw');
});

test('register refuses a DN that would corrupt the request', async () => {
  const c = newClient();
  for (const dn of ['10:01', '10 01', '10\r\n01', '']) {
    await assert.rejects(c.register(dn), (e) => e.code === 'INVALID_ARGUMENT_ERROR');
  }
  assert.equal(gateway.requests.length, 0);
});

for (const [status, body, headers, message] of [
  [403, 'wrong credentials\n', {}, 'Registration refused: wrong DN or password'],
  [429, 'too many failed logins from this address\n', { 'Retry-After': '600' }, 'Sign-in refused (too many failed logins from this address): try again in 600 s'],
  [503, 'SIP Server unreachable\n', {}, 'Gateway unavailable: SIP Server unreachable'],
  [504, 'SIP Server timeout\n', {}, 'The SIP Server did not answer in time: SIP Server timeout'],
  [400, 'bad DN\n', {}, 'The gateway rejected the sign-in request: bad DN'],
]) {
  test(`sign-in answered ${status}: onFailed with a readable message, promise rejected`, async () => {
    gateway.signIn = () => new Response(body, { status, headers });
    const c = newClient();
    const failed = once(c.onFailed);
    await assert.rejects(c.register('1001', 'x'), (e) => e.code === 'CONNECTION_ERROR' && e.status === status && e.message === message);
    const info = await failed;
    assert.equal(info.message, message);
    assert.equal(info.status, status);
    assert.equal(info.serverMessage, body.trim());
    assert.equal(info.retryAfter, headers['Retry-After'] ? 600 : null);
    assert.equal(c.connected, false);
    assert.equal(gateway.requests.filter((r) => r.path === '/wait').length, 0);
  });
}

test('sign-in network error: "Gateway unreachable"', async () => {
  gateway.signIn = () => { throw new TypeError('fetch failed'); };
  const c = newClient();
  const failed = once(c.onFailed);
  await assert.rejects(c.connect(), (e) => e.status === 0);
  assert.equal((await failed).message, 'Gateway unreachable');
});

test('an invalid sign-in body is a failure, not a session', async () => {
  gateway.signIn = () => new Response('<html>proxy error</html>', { status: 200 });
  const c = newClient();
  await assert.rejects(c.connect(), (e) => e.code === 'CONNECTION_ERROR');
  assert.equal(c.connected, false);
});

test('a double click on register: the second is refused while the first runs', async () => {
  const c = newClient();
  const first = c.register('1001');
  await assert.rejects(c.register('1001'), (e) => e.code === 'INVALID_STATE_ERROR');
  assert.equal(await first, 'S1');
  assert.equal(gateway.requests.filter((r) => r.path === '/sign_in').length, 1);
});

test('passwords are never logged', async () => {
  const lines = [];
  const capture = (...a) => lines.push(a.map(String).join(' '));
  gw.setLogger({ debug: capture, info: capture, warn: capture, error: capture });
  gateway.signIn = (req) => (req.method === 'POST' ? new Response('nope\n', { status: 403 }) : new Response('x=S1\n'));
  const c = newClient({ sip_password: 'sip-secret', turn_server: 't.example.com', turn_username: 'u', turn_password: 'turn-secret', dtls_srtp: false });
  await assert.rejects(c.register('1001'));
  await c.connect();
  await gateway.waitPolling();
  await establishedCall(c);
  assert.ok(lines.length > 0);
  for (const l of lines) assert.ok(!l.includes('secret'), l);
});

// ------------------------------------------------------------ polling

test('/wait: an empty body re-polls, a message is dispatched, one /wait at a time', async () => {
  const c = await connected();
  const info = once(c.onInfoFromPeer);
  gateway.deliver('', '');
  await gateway.waitPolling();
  gateway.deliver('INFO-PEER case=42&note=hello+world', '5001');
  assert.deepEqual(await info, { case: '42', note: 'hello world' });
  await gateway.waitPolling();
  assert.equal(gateway.waits.length, 1);
});

test('/wait: the client aborts after polling_timeout and re-polls at once', async () => {
  const c = newClient({ polling_timeout: 20 });
  await c.connect();
  await until(() => gateway.requests.filter((r) => r.path === '/wait').length >= 3, 'three polls');
  assert.ok(gateway.waits.length <= 1);
});

test('/wait: a network error retries after the delay', async () => {
  await connected();
  gateway.failWait(new TypeError('network down'));
  await until(() => gateway.requests.filter((r) => r.path === '/wait').length === 2, 'the retry');
});

for (const status of [204, 205]) {
  test(`/wait answered ${status}: the session is gone, onDisconnect, no more polling`, async () => {
    const c = await connected();
    const { s } = await establishedCall(c);
    const closing = once(c.onPeerClosing);
    const disconnected = once(c.onDisconnect);
    gateway.deliver(null, '', status);
    assert.equal((await disconnected).status, status);
    assert.equal((await closing).reason, 'disconnected');
    assert.equal(c.connected, false);
    assert.equal(s.state, 'idle');
    const polls = gateway.requests.filter((r) => r.path === '/wait').length;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(gateway.requests.filter((r) => r.path === '/wait').length, polls);
    assert.equal(gateway.messages('BYE').length, 0, 'no BYE into a session that is gone');
  });
}

for (const status of [404, 500, 502]) {
  test(`/wait answered ${status}: taken for a network error, retried after the delay, the call goes on`, async () => {
    const c = await connected();
    const { s } = await establishedCall(c);
    let disconnected = 0;
    c.onDisconnect.add(() => { disconnected++; });
    const before = gateway.requests.filter((r) => r.path === '/wait').length;
    gateway.deliver('bad gateway\n', '', status);
    await until(() => gateway.requests.filter((r) => r.path === '/wait').length === before + 1, 'the retry');
    assert.equal(disconnected, 0);
    assert.equal(c.connected, true);
    assert.equal(s.state, 'established');
    gateway.deliver('INFO-PEER a=1', '5001');
    await until(() => gateway.requests.filter((r) => r.path === '/wait').length === before + 2, 'polling goes on');
  });
}

test('disconnect during a call: BYE, sign_out, the session closes, polling stops', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  const closed = once(s.onSessionClose);
  const disconnected = once(c.onDisconnect);
  const localTrack = s.localStream.getTracks()[0];
  const pc = s.peerConnection;
  await c.disconnect();
  assert.equal((await closed).reason, 'disconnected');
  await disconnected;
  const bye = await gateway.nextMessage('BYE');
  assert.equal(new URLSearchParams(bye.query).get('to'), '5001');
  const out = await gateway.next((r) => r.path === '/sign_out', 'sign_out');
  assert.equal(out.query, 'id=S1');
  assert.equal(out.init.keepalive, true);
  assert.equal(localTrack.readyState, 'ended');
  assert.equal(pc.closed, true);
  assert.equal(gateway.waits.length, 0);
});

test('disconnect while signing in cancels the sign-in', async () => {
  let release;
  gateway.signIn = () => new Promise((resolve) => { release = () => resolve(new Response('x=S9\n')); });
  const c = newClient();
  const p = c.connect();
  await until(() => release, 'sign-in sent');
  await c.disconnect();
  release();
  await assert.rejects(p, (e) => e.code === 'CANCELLED');
  assert.equal(c.connected, false);
  const out = await gateway.next((r) => r.path === '/sign_out', 'sign_out of the orphan session');
  assert.equal(out.query, 'id=S9');
});

// ------------------------------------------------------------ outgoing calls

test('outgoing call: OFFER with all candidates, then ANSWER, then OK', async () => {
  const c = await connected();
  const s = new MediaSession(c);
  const local = once(s.onLocalStream);
  const remote = once(s.onRemoteStream);
  await s.makeOffer('5001');
  assert.ok((await local).stream.getAudioTracks().length === 1);
  assert.deepEqual(media.requests, [{ audio: true, video: false }]);
  assert.equal(s.state, 'offer-sent');
  const { req, to, msg } = await gateway.nextRoap('OFFER');
  assert.equal(to, '5001');
  assert.equal(new URLSearchParams(req.query).get('from'), 'S1');
  assert.deepEqual(req.init.headers, { 'Content-Type': 'application/x-www-form-urlencoded' });
  assert.ok(msg.offererSessionId >= 102);
  assert.equal(msg.offererSessionId, s.sessionId);
  assert.equal('answererSessionId' in msg, false);
  assert.equal(msg.seq, 1);
  assert.ok(msg.tiebreaker >= 1);
  assert.ok(msg.sdp.includes('m=audio 9 RTP/SAVPF'));
  assert.ok(!msg.sdp.includes('UDP/TLS'));
  assert.ok(msg.sdp.includes('a=candidate:'));
  assert.deepEqual(msg.Candidates, gw.extractCandidates(msg.sdp));
  assert.equal(msg.Candidates.length, 1);

  gateway.deliver(answerBody(msg), '5001');
  const ok = await gateway.nextRoap('OK');
  assert.equal(ok.to, '5001');
  assert.deepEqual(ok.msg, { messageType: 'OK', offererSessionId: msg.offererSessionId, answererSessionId: 7001, seq: 1 });
  assert.equal(s.state, 'established');
  assert.equal(s.remoteSessionId, 7001);
  assert.ok((await remote).stream);
  const pc = FakePC.instances[0];
  assert.equal(pc.remoteDescription.type, 'answer');
  // The candidate already in the answer's SDP is not added twice.
  assert.deepEqual(pc.addedCandidates, [{ candidate: 'candidate:10 1 udp 1694498815 203.0.113.5 30000 typ srflx', sdpMid: '0' }]);
});

test('session ids count up per call', async () => {
  const c = await connected();
  const { s, offer } = await establishedCall(c);
  s.closeSession();
  await gateway.nextMessage('BYE');
  const again = await establishedCall(c);
  assert.equal(again.offer.offererSessionId, offer.offererSessionId + 1);
});

test('the destination is validated and percent-encoded', async () => {
  const c = await connected();
  const s = new MediaSession(c);
  await assert.rejects(s.makeOffer('50 01'), (e) => e.code === 'INVALID_ARGUMENT_ERROR');
  await assert.rejects(s.makeOffer(''), (e) => e.code === 'INVALID_ARGUMENT_ERROR');
  await assert.rejects(s.makeOffer('5001', false, false), (e) => e.code === 'INVALID_ARGUMENT_ERROR');
  assert.equal(s.state, 'idle');
  await s.makeOffer('+33#1&x');
  assert.equal((await gateway.nextRoap('OFFER')).req.query, 'from=S1&to=%2B33%231%26x');
});

test('a double click on call: the second makeOffer is refused', async () => {
  const c = await connected();
  const s = new MediaSession(c);
  const first = s.makeOffer('5001');
  await assert.rejects(s.makeOffer('5001'), (e) => e.code === 'INVALID_STATE_ERROR');
  await first;
  await gateway.nextRoap('OFFER');
  assert.equal(gateway.messages('RSMP').length, 1);
  assert.throws(() => new MediaSession(c), (e) => e.code === 'INVALID_STATE_ERROR');
});

test('makeOffer needs a connection', async () => {
  const c = newClient();
  await assert.rejects(new MediaSession(c).makeOffer('5001'), (e) => e.code === 'INVALID_STATE_ERROR');
});

test('ICE gathering that never completes: the OFFER goes after ice_timeout with what was found', async () => {
  FakePC.gatherNever = true;
  const c = await connected({ ice_timeout: 30 });
  const s = new MediaSession(c);
  const started = Date.now();
  await s.makeOffer('5001');
  assert.ok(Date.now() - started >= 25);
  const { msg } = await gateway.nextRoap('OFFER');
  assert.deepEqual(msg.Candidates, []);
});

test('microphone denied: makeOffer rejects with a readable message, nothing sent', async () => {
  media.deny = true;
  const c = await connected();
  const s = new MediaSession(c);
  const closed = once(s.onSessionClose);
  await assert.rejects(s.makeOffer('5001'), (e) => e.code === 'WEBRTC_ERROR' && /denied/.test(e.message));
  assert.equal((await closed).reason, 'failed');
  assert.equal(s.state, 'idle');
  assert.equal(gateway.messages('').length, 0);
});

test('the gateway refuses the OFFER on /wait (200, then CALL_FAILED and BYE): the call ends once, no BYE back', async () => {
  const c = await connected();
  const s = new MediaSession(c);
  await s.makeOffer('5001');
  await gateway.nextRoap('OFFER');
  const error = once(c.onGatewayError);
  const closing = once(c.onPeerClosing);
  const closed = once(s.onSessionClose);
  gateway.deliver('RSMP ERROR {"errorType":"CALL_FAILED","status":400,"reason":"destination: not a valid DN or number"}', '5001');
  const info = await error;
  assert.equal(info.error, 'CALL_FAILED');
  assert.equal(info.status, 400);
  assert.equal((await closing).status, 400);
  assert.equal((await closed).reason, 'failed');
  let more = 0;
  c.onPeerClosing.add(() => { more++; });
  gateway.deliver('BYE', '5001');
  await gateway.waitPolling();
  assert.equal(more, 0);
  assert.equal(s.state, 'idle');
  assert.equal(gateway.messages('BYE').length, 0, 'no BYE back for a refused call');
});

test('MESSAGE_REFUSED on /wait: onGatewayError, the call goes on', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  const error = once(c.onGatewayError);
  gateway.deliver('RSMP ERROR {"errorType":"MESSAGE_REFUSED","status":400,"reason":"INFO data must be URL-encoded"}', '5001');
  const info = await error;
  assert.equal(info.error, 'MESSAGE_REFUSED');
  assert.equal(info.status, 400);
  assert.equal(s.state, 'established');
  assert.equal(c.connected, true);
});

test('a message answered 204: the session is over, the client signs out', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  gateway.message = () => new Response(null, { status: 204 });
  const disconnected = once(c.onDisconnect);
  const closing = once(c.onPeerClosing);
  await assert.rejects(s.sendInfo({ a: 1 }), (e) => e.status === 204);
  assert.equal((await disconnected).status, 204);
  assert.equal((await closing).reason, 'disconnected');
  assert.equal(c.connected, false);
});

test('the gateway refuses the OFFER (400): onGatewayError, the call ends without BYE', async () => {
  gateway.message = (req) => (req.body.startsWith('RSMP') ? new Response('invalid destination\n', { status: 400 }) : new Response(''));
  const c = await connected();
  const s = new MediaSession(c);
  const error = once(c.onGatewayError);
  await assert.rejects(s.makeOffer('5001'), (e) => e.status === 400);
  const info = await error;
  assert.equal(info.error, 'MESSAGE_REJECTED');
  assert.equal(info.status, 400);
  assert.equal(info.serverMessage, 'invalid destination');
  assert.equal(s.state, 'idle');
  assert.equal(c.connected, true);
});

test('a message answered 404 (a proxy in the way): onGatewayError, the session stays', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  gateway.message = () => new Response('not found\n', { status: 404 });
  const error = once(c.onGatewayError);
  await assert.rejects(s.sendInfo({ a: 1 }), (e) => e.status === 404);
  assert.equal((await error).status, 404);
  assert.equal(c.connected, true);
});

test('hang up while the OFFER is still being prepared: nothing is sent', async () => {
  FakePC.gatherDelay = 50;
  const c = await connected();
  const s = new MediaSession(c);
  const p = s.makeOffer('5001');
  await until(() => FakePC.instances.length === 1 && FakePC.instances[0].iceGatheringState === 'gathering', 'gathering');
  s.closeSession();
  await assert.rejects(p, (e) => e.code === 'CANCELLED');
  await new Promise((r) => setTimeout(r, 70));
  assert.equal(gateway.messages('').length, 0, 'neither OFFER nor BYE');
  assert.equal(s.state, 'idle');
});

test('a BYE while our OFFER is still being prepared is not for this call', async () => {
  FakePC.gatherDelay = 30;
  const c = await connected();
  const s = new MediaSession(c);
  const p = s.makeOffer('5001');
  await until(() => FakePC.instances.length === 1, 'peer connection');
  gateway.deliver('BYE', '4000');
  await p;
  await gateway.nextRoap('OFFER');
  assert.equal(s.state, 'offer-sent');
});

test('BYE while the OFFER awaits its ANSWER: the call ends, a late ANSWER is ignored', async () => {
  const c = await connected();
  const s = new MediaSession(c);
  await s.makeOffer('5001');
  const { msg } = await gateway.nextRoap('OFFER');
  const localTrack = s.localStream.getTracks()[0];
  const closing = once(c.onPeerClosing);
  const closed = once(s.onSessionClose);
  gateway.deliver('BYE', '5001');
  assert.equal((await closing).peer, '5001');
  assert.equal((await closed).reason, 'remote');
  assert.equal(s.state, 'idle');
  assert.equal(localTrack.readyState, 'ended');
  assert.equal(FakePC.instances[0].closed, true);
  gateway.deliver(answerBody(msg), '5001');
  await gateway.waitPolling();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(gateway.messages('RSMP {"messageType":"OK"').length, 0);
  assert.equal(gateway.messages('BYE').length, 0, 'no BYE back for a remote hang-up');
});

test('CALL_FAILED: onGatewayError with status and reason, the call ends once', async () => {
  const c = await connected();
  const s = new MediaSession(c);
  await s.makeOffer('5001');
  await gateway.nextRoap('OFFER');
  const error = once(c.onGatewayError);
  const closing = once(c.onPeerClosing);
  const closed = once(s.onSessionClose);
  gateway.deliver('RSMP ERROR {"errorType":"CALL_FAILED","status":486,"reason":"Busy Here"}', '5001');
  const info = await error;
  assert.equal(info.error, 'CALL_FAILED');
  assert.equal(info.status, 486);
  assert.equal(info.reason, 'Busy Here');
  assert.deepEqual(await closing, { peer: '5001', status: 486, reason: 'Busy Here' });
  assert.deepEqual(await closed, { reason: 'failed', peer: '5001', status: 486, message: '486 Busy Here' });
  assert.equal(s.state, 'idle');
  let more = 0;
  c.onPeerClosing.add(() => { more++; });
  gateway.deliver('BYE', '5001');
  await gateway.waitPolling();
  assert.equal(more, 0);
});

test('no answer within noanswer_timeout: BYE, onPeerNoanswer, the call is closed', async () => {
  const c = await connected({ noanswer_timeout: 30 });
  const s = new MediaSession(c);
  const noanswer = once(c.onPeerNoanswer);
  const closed = once(s.onSessionClose);
  await s.makeOffer('5001');
  assert.equal((await noanswer).peer, '5001');
  assert.equal((await closed).reason, 'noanswer');
  assert.equal((await gateway.nextMessage('BYE')).query, 'from=S1&to=5001');
  assert.equal(s.state, 'idle');
});

test('early media: a repeated identical ANSWER is ignored, a different one is applied', async () => {
  const c = await connected();
  const { s, offer } = await establishedCall(c);
  const pc = FakePC.instances[0];
  gateway.deliver(answerBody(offer), '5001');
  await gateway.waitPolling();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(gateway.messages('RSMP {"messageType":"OK"').length, 1);
  const v = pc.version;
  const final = gatewaySdp().replace('o=- 99 1', 'o=- 99 2');
  gateway.deliver(answerBody(offer, { sdp: final }), '5001');
  await gateway.nextRoap('OK');
  assert.equal(pc.remoteDescription.sdp, final);
  assert.equal(pc.signalingState, 'stable');
  assert.ok(pc.version > v, 'a local offer was made for the new answer');
  assert.equal(s.state, 'established');
  assert.equal(gateway.messages('RSMP {"messageType":"OFFER"').length, 1, 'that offer is not sent');
});

test('an ANSWER for another session is ignored', async () => {
  const c = await connected();
  const s = new MediaSession(c);
  await s.makeOffer('5001');
  const { msg } = await gateway.nextRoap('OFFER');
  gateway.deliver(answerBody(msg, { offererSessionId: msg.offererSessionId - 1 }), '5001');
  await gateway.waitPolling();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(s.state, 'offer-sent');
});

test('attached data goes into the next OFFER only; received data is readable', async () => {
  const c = await connected();
  const s = new MediaSession(c);
  s.setData({ CustomerId: 'C-42', Priority: 3 });
  await s.makeOffer('5001');
  const { msg } = await gateway.nextRoap('OFFER');
  assert.deepEqual(msg.attacheddata, [{ key: 'CustomerId', value: 'C-42' }, { key: 'Priority', value: 3 }]);
  const established = once(s.onStateChange);
  gateway.deliver(answerBody(msg, { attacheddata: [{ key: 'Queue', value: 'Sales' }] }), '5001');
  await established;
  assert.deepEqual(s.getData(), [{ key: 'Queue', value: 'Sales' }]);
  await gateway.nextRoap('OK');
  s.holdCall();
  const hold = await gateway.nextRoap('OFFER');
  assert.equal('attacheddata' in hold.msg, false);
});

// ------------------------------------------------------------ incoming calls

test('incoming call with SDP: onIncomingCall, acceptCall sends the ANSWER to the caller', async () => {
  const c = await connected();
  const incoming = once(c.onIncomingCall);
  gateway.deliver(offerBody({ attacheddata: [{ key: 'Queue', value: 'Support' }] }), '5002');
  assert.deepEqual(await incoming, { peer: '5002', event: 'offer' });
  assert.deepEqual(c.incomingCall, { peer: '5002', event: 'offer' });
  const s = new MediaSession(c);
  const remote = once(s.onRemoteStream);
  await s.acceptCall();
  const { to, msg } = await gateway.nextRoap('ANSWER');
  assert.equal(to, '5002');
  assert.equal(msg.offererSessionId, 501);
  assert.equal(msg.answererSessionId, s.sessionId);
  assert.equal(msg.seq, 1);
  assert.equal('tiebreaker' in msg, false);
  assert.ok(msg.sdp.includes('a=sendrecv'));
  assert.ok(msg.sdp.includes('RTP/SAVPF') && !msg.sdp.includes('UDP/TLS'));
  assert.equal(msg.Candidates.length, 1);
  assert.equal(s.state, 'established');
  assert.ok(await remote);
  assert.deepEqual(s.getData(), [{ key: 'Queue', value: 'Support' }]);
  assert.equal(c.incomingCall, null);
  await assert.rejects(s.acceptCall(), (e) => e.code === 'INVALID_STATE_ERROR', 'a double click on answer');
});

test('incoming INVITE without SDP: acceptCall sends an OFFER, the ANSWER gets an OK', async () => {
  const c = await connected();
  const incoming = once(c.onIncomingCall);
  gateway.deliver('INVITE', '5003');
  assert.deepEqual(await incoming, { peer: '5003', event: 'invite' });
  const s = new MediaSession(c);
  await s.acceptCall();
  const { to, msg } = await gateway.nextRoap('OFFER');
  assert.equal(to, '5003');
  gateway.deliver(answerBody(msg), '5003');
  const ok = await gateway.nextRoap('OK');
  assert.equal(ok.to, '5003');
  assert.equal(s.state, 'established');
});

test('rejectCall sends BYE to the caller; a second reject is refused', async () => {
  const c = await connected();
  gateway.deliver(offerBody(), '5002');
  await once(c.onIncomingCall);
  const s = new MediaSession(c);
  await s.rejectCall();
  assert.equal((await gateway.nextMessage('BYE')).query, 'from=S1&to=5002');
  await assert.rejects(s.rejectCall(), (e) => e.code === 'INVALID_STATE_ERROR');
  assert.equal(c.incomingCall, null);
});

test('the caller hangs up before we answer: onPeerClosing, nothing left to accept', async () => {
  const c = await connected();
  gateway.deliver('INVITE', '5003');
  await once(c.onIncomingCall);
  const closing = once(c.onPeerClosing);
  gateway.deliver('BYE', '5003');
  assert.equal((await closing).peer, '5003');
  assert.equal(c.incomingCall, null);
  await assert.rejects(new MediaSession(c).acceptCall(), (e) => e.code === 'INVALID_STATE_ERROR');
});

test('EVENT-TALK auto-answers a waiting call', async () => {
  const c = await connected();
  gateway.deliver(offerBody(), '5002');
  await once(c.onIncomingCall);
  const s = new MediaSession(c);
  gateway.deliver('EVENT-TALK', '5002');
  const { to } = await gateway.nextRoap('ANSWER');
  assert.equal(to, '5002');
  await until(() => s.state === 'established', 'established');
});

test('EVENT-TALK auto-answers even without a MediaSession', async () => {
  const c = await connected();
  gateway.deliver('INVITE', '5003');
  await once(c.onIncomingCall);
  gateway.deliver('EVENT-TALK', '5003');
  await gateway.nextRoap('OFFER');
  assert.ok(c.mediaSession instanceof MediaSession);
});

test('a second caller while in a call gets BYE (busy), no onIncomingCall', async () => {
  const c = await connected();
  await establishedCall(c);
  let rang = false;
  c.onIncomingCall.add(() => { rang = true; });
  gateway.deliver(offerBody(), '6000');
  assert.equal((await gateway.nextMessage('BYE')).query, 'from=S1&to=6000');
  gateway.deliver('INVITE', '6001');
  assert.equal((await gateway.nextMessage('BYE')).query, 'from=S1&to=6001');
  assert.equal(rang, false);
});

test('an incoming OFFER without a caller id is ignored', async () => {
  const c = await connected();
  let rang = false;
  c.onIncomingCall.add(() => { rang = true; });
  gateway.deliver(offerBody(), '');
  await gateway.waitPolling();
  assert.equal(rang, false);
});

// ------------------------------------------------------------ mid-call

test('hold and resume: a new OFFER all inactive, then sendrecv, same session', async () => {
  const c = await connected();
  const { s, offer } = await establishedCall(c);
  const holdEvent = once(s.onSessionHold);
  const holding = s.holdCall();
  await assert.rejects(s.holdCall(), (e) => e.code === 'INVALID_STATE_ERROR', 'a double click on hold');
  const hold = await gateway.nextRoap('OFFER');
  assert.equal(hold.to, '5001');
  assert.equal(hold.msg.offererSessionId, offer.offererSessionId);
  assert.equal(hold.msg.answererSessionId, 7001);
  assert.equal(hold.msg.seq, 2);
  assert.ok(!/a=(sendrecv|sendonly|recvonly)/.test(hold.msg.sdp));
  assert.ok(hold.msg.sdp.includes('a=inactive'));
  assert.ok(hold.msg.sdp.includes('a=candidate:'), 'candidates again in a re-offer');
  assert.equal(FakePC.instances[0].transceivers[0].direction, 'inactive', 'through the transceiver');
  gateway.deliver(answerBody(hold.msg, { sdp: gatewaySdp('inactive') }), '5001');
  await holding;
  assert.deepEqual(await holdEvent, { held: true, initiator: 'local' });
  assert.equal(s.held, true);
  await gateway.nextRoap('OK');
  await assert.rejects(s.holdCall(), (e) => /already on hold/.test(e.message));

  const resumeEvent = once(s.onSessionHold);
  const resuming = s.resumeCall();
  const resume = await gateway.nextRoap('OFFER');
  assert.equal(resume.msg.seq, 3);
  assert.ok(resume.msg.sdp.includes('a=sendrecv') && !resume.msg.sdp.includes('a=inactive'));
  gateway.deliver(answerBody(resume.msg), '5001');
  await resuming;
  assert.deepEqual(await resumeEvent, { held: false, initiator: 'local' });
  assert.equal(s.held, false);
});

test('hold gets no answer: onPeerNoanswer, the call goes on un-held', async () => {
  const c = await connected({ noanswer_timeout: 40 });
  const { s } = await establishedCall(c);
  const noanswer = once(c.onPeerNoanswer);
  await assert.rejects(s.holdCall(), (e) => e.code === 'NO_ANSWER');
  assert.equal((await noanswer).reoffer, true);
  assert.equal(s.state, 'established');
  assert.equal(s.held, false);
  const pc = FakePC.instances[0];
  assert.equal(pc.signalingState, 'stable');
  assert.equal(pc.transceivers[0].direction, 'sendrecv');
  assert.equal(gateway.messages('BYE').length, 0);
});

test('EVENT-HOLD and EVENT-TALK from the SIP side: onHold, and the media follows', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  const held = once(c.onHold);
  gateway.deliver('EVENT-HOLD', '5001');
  assert.deepEqual(await held, { held: true, peer: '5001' });
  const hold = await gateway.nextRoap('OFFER');
  assert.ok(hold.msg.sdp.includes('a=inactive'));
  const sessionHeld = once(s.onSessionHold);
  gateway.deliver(answerBody(hold.msg, { sdp: gatewaySdp('inactive') }), '5001');
  assert.deepEqual(await sessionHeld, { held: true, initiator: 'remote' });
  await gateway.nextRoap('OK');

  const resumed = once(c.onHold);
  gateway.deliver('EVENT-TALK', '5001');
  assert.deepEqual(await resumed, { held: false, peer: '5001' });
  const resume = await gateway.nextRoap('OFFER');
  assert.ok(resume.msg.sdp.includes('a=sendrecv'));
  gateway.deliver(answerBody(resume.msg), '5001');
  await until(() => !s.held, 'resumed');
});

test('mid-call INVITE: a new offer with the current hold state', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  gateway.deliver('INVITE', '5001');
  const first = await gateway.nextRoap('OFFER');
  assert.ok(first.msg.sdp.includes('a=sendrecv'));
  gateway.deliver(answerBody(first.msg), '5001');
  await gateway.nextRoap('OK');
  const holding = s.holdCall();
  const h = await gateway.nextRoap('OFFER');
  gateway.deliver(answerBody(h.msg, { sdp: gatewaySdp('inactive') }), '5001');
  await holding;
  await gateway.nextRoap('OK');
  gateway.deliver('INVITE', '5001');
  const again = await gateway.nextRoap('OFFER');
  assert.ok(again.msg.sdp.includes('a=inactive') && !again.msg.sdp.includes('a=sendrecv'));
});

test('mid-call OFFER from the SIP side (sendonly = hold): ANSWER, onHold; active again: onHold false', async () => {
  const c = await connected();
  await establishedCall(c);
  const held = once(c.onHold);
  gateway.deliver(offerBody({ sdp: gatewaySdp('sendonly'), offererSessionId: 7001, seq: 5 }), '5001');
  const answer = await gateway.nextRoap('ANSWER');
  assert.equal(answer.to, '5001');
  assert.equal(answer.msg.seq, 5);
  assert.ok(answer.msg.sdp.includes('a=recvonly'));
  assert.deepEqual(await held, { held: true, peer: '5001' });
  const resumed = once(c.onHold);
  gateway.deliver(offerBody({ offererSessionId: 7001, seq: 6 }), '5001');
  assert.ok((await gateway.nextRoap('ANSWER')).msg.sdp.includes('a=sendrecv'));
  assert.deepEqual(await resumed, { held: false, peer: '5001' });
});

test('a mid-call OFFER that cannot be applied hangs up', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  const error = once(c.onWebrtcError);
  gateway.deliver(offerBody({ sdp: 'garbage' }), '5001');
  assert.equal((await error).error, 'RENEGOTIATION_FAILED');
  await gateway.nextMessage('BYE');
  assert.equal(s.state, 'idle');
});

test('BYE from the far end during a call: onPeerClosing, media released', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  const closing = once(c.onPeerClosing);
  const localTrack = s.localStream.getTracks()[0];
  gateway.deliver('BYE', '5001');
  assert.equal((await closing).peer, '5001');
  assert.equal(localTrack.readyState, 'ended');
  assert.equal(s.localStream, null);
  assert.equal(s.remoteStream, null);
  assert.equal(c.mediaSession, s);
  await establishedCall(c); // a new call after it works
});

test('closeSession hangs up with BYE once', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  s.closeSession();
  s.closeSession();
  await gateway.nextMessage('BYE');
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(gateway.messages('BYE').length, 1);
});

test('mute: updateCall switches local tracks', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  s.updateCall(false);
  assert.equal(s.localStream.getAudioTracks()[0].enabled, false);
  assert.equal(s.audioMuted, true);
  s.updateCall(true, 'ignored');
  assert.equal(s.audioMuted, false);
});

test('DTMF through RTCDTMFSender, appended to tones still playing', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  s.sendDTMF('12');
  s.sendDTMF('#', 200, 80);
  assert.deepEqual(FakePC.instances[0].dtmf, [{ tones: '12', duration: 100, gap: 70 }, { tones: '12#', duration: 200, gap: 80 }]);
  assert.throws(() => s.sendDTMF('1x'), (e) => e.code === 'INVALID_ARGUMENT_ERROR');
  assert.throws(() => s.sendDTMF(''), (e) => e.code === 'INVALID_ARGUMENT_ERROR');
  assert.equal(gateway.messages('').filter((r) => /DTMF/.test(r.body)).length, 0, 'in-band only');
  s.closeSession();
  assert.throws(() => s.sendDTMF('1'), (e) => e.code === 'INVALID_STATE_ERROR');
});

test('INFO: INFO-MAP by default, INFO-PEER with mapData false, urlencoded', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  await s.sendInfo({ Case: 'A 1', Amount: '10&5' });
  assert.equal((await gateway.nextMessage('INFO-')).body, 'INFO-MAP Case=A+1&Amount=10%265');
  await s.sendInfo([{ key: 'k', value: 'v' }], true);
  assert.equal((await gateway.nextMessage('INFO-')).body, 'INFO-MAP k=v');
  await s.sendInfo({ note: 'hi there' }, false);
  const peer = await gateway.nextMessage('INFO-');
  assert.equal(peer.body, 'INFO-PEER note=hi+there');
  assert.equal(new URLSearchParams(peer.query).get('to'), '5001');
  await assert.rejects(s.sendInfo({}), (e) => e.code === 'INVALID_ARGUMENT_ERROR');
});

test('server statistics: GET-STATS out, PUT-STATS in', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  await s.getServerStats();
  assert.equal((await gateway.nextMessage('GET-STATS')).body, 'GET-STATS');
  const stats = once(c.onStatsFromServer);
  gateway.deliver('PUT-STATS {"duration":12,"audio":{"rtt":21,"rx":{"packets":600,"lost":1}}}', '5001');
  assert.deepEqual(await stats, { duration: 12, audio: { rtt: 21, rx: { packets: 600, lost: 1 } } });
  assert.equal((await s.getCallStats()).packetsSent, 10);
  s.closeSession();
  await assert.rejects(s.getServerStats(), (e) => e.code === 'INVALID_STATE_ERROR');
});

test('other gateway errors fire onGatewayError and leave the call alone', async () => {
  const c = await connected();
  const { s } = await establishedCall(c);
  const error = once(c.onGatewayError);
  gateway.deliver('RSMP ERROR {"errorType":"INVALID_MESSAGE"}', '5001');
  assert.equal((await error).error, 'INVALID_MESSAGE');
  assert.equal(s.state, 'established');
});
