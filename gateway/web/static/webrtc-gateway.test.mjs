// Unit tests of the pure parts of webrtc-gateway.js (node --test).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import gw from './webrtc-gateway.js';

const CHROME_OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=msid-semantic: WMS',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:1 1 udp 2122260223 192.0.2.10 50000 typ host generation 0',
  'a=candidate:2 1 udp 1686052607 198.51.100.7 50001 typ srflx raddr 192.0.2.10 rport 50000',
  'a=ice-ufrag:abcd',
  'a=mid:0',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 0.0.0.0',
  'a=mid:1',
  'a=candidate:3 1 udp 2122260223 192.0.2.10 50002 typ host',
  'a=recvonly',
  '',
].join('\r\n');

describe('classifyMessage follows the order of PROTOCOL.md', () => {
  const cases = [
    // [name, body, inCall, want]
    ['BYE', 'BYE', true, 'bye'],
    ['BYE without a call', 'BYE', false, 'bye'],
    ['BYE wins over anything after it', 'BYE {"messageType":"OFFER"} ERROR errorType', false, 'bye'],
    ['INVITE', 'INVITE', false, 'invite'],
    ['INVITE mid-call', 'INVITE', true, 'invite'],
    ['EVENT-TALK', 'EVENT-TALK', false, 'event-talk'],
    ['EVENT-HOLD', 'EVENT-HOLD', true, 'event-hold'],
    ['INFO-PEER with the space', 'INFO-PEER a=1&b=2', true, 'info-peer'],
    ['INFO-PEER without the space is no INFO', 'INFO-PEERa=1', false, 'unknown'],
    ['INFO-PEER without the space, in a call, is read as ROAP', 'INFO-PEERa=1', true, 'roap'],
    ['PUT-STATS', 'PUT-STATS {"duration":3}', true, 'put-stats'],
    ['error with a prefix', 'RSMP ERROR {"errorType":"CALL_FAILED","status":486}', true, 'error'],
    ['error without a call', 'RSMP ERROR {"errorType":"X"}', false, 'error'],
    ['ERROR at position 0 is not an error', 'ERROR {"errorType":"X"}', false, 'unknown'],
    ['ERROR at position 0 in a call falls to ROAP', 'ERROR {"errorType":"X"}', true, 'roap'],
    ['ERROR needs errorType', 'RSMP ERROR {"type":"X"}', true, 'roap'],
    ['ERROR needs a { after position 0', '{"messageType":"ERROR","errorType":"X"}', true, 'roap'],
    ['ANSWER in a call is ROAP', 'RSMP {"messageType":"ANSWER","sdp":"v=0"}', true, 'roap'],
    ['ANSWER is never read as OFFER, even prefixed SDP', 'SDP {"messageType":"ANSWER","sdp":"v=0"}', true, 'roap'],
    ['OK in a call is ROAP', '{"messageType":"OK"}', true, 'roap'],
    ['ANSWER without a call is unknown', 'RSMP {"messageType":"ANSWER"}', false, 'unknown'],
    ['incoming OFFER', 'SDP {"messageType":"OFFER","sdp":"v=0"}', false, 'offer'],
    ['mid-call OFFER', 'SDP {"messageType":"OFFER","sdp":"v=0"}', true, 'offer'],
    ['OFFER not starting with SDP, no call', 'RSMP {"messageType":"OFFER","sdp":"v=0"}', false, 'unknown'],
    ['OFFER not starting with SDP, in a call', 'RSMP {"messageType":"OFFER"}', true, 'unknown'],
    ['an ANSWER whose SDP mentions OFFER is not ROAP', 'RSMP {"messageType":"ANSWER","sdp":"a=x-OFFER"}', true, 'unknown'],
    ['lowercase offer is not OFFER', 'RSMP {"messageType":"ANSWER","sdp":"offer"}', true, 'roap'],
    ['empty body', '', false, 'unknown'],
  ];
  for (const [name, body, inCall, want] of cases) {
    test(name, () => assert.equal(gw.classifyMessage(body, inCall), want));
  }
});

describe('parseWaitMessage', () => {
  test('INFO-PEER is decoded', () => {
    assert.deepEqual(gw.parseWaitMessage('INFO-PEER a=1&b=x+y%26z', true), { type: 'info-peer', data: { a: '1', b: 'x y&z' } });
  });
  test('PUT-STATS is parsed', () => {
    const m = gw.parseWaitMessage('PUT-STATS {"duration":12,"audio":{"rtt":20}}', true);
    assert.deepEqual(m, { type: 'put-stats', stats: { duration: 12, audio: { rtt: 20 } } });
  });
  test('an error is parsed from the first {', () => {
    const m = gw.parseWaitMessage('RSMP ERROR {"errorType":"CALL_FAILED","status":486,"reason":"Busy Here"}', false);
    assert.deepEqual(m, { type: 'error', error: { errorType: 'CALL_FAILED', status: 486, reason: 'Busy Here' } });
  });
  test('ROAP and OFFER are parsed from the first {', () => {
    assert.equal(gw.parseWaitMessage('RSMP {"messageType":"ANSWER","sdp":"v=0"}', true).message.messageType, 'ANSWER');
    const offer = gw.parseWaitMessage('SDP {"messageType":"OFFER","sdp":"v=0","seq":3}', false);
    assert.equal(offer.type, 'offer');
    assert.equal(offer.message.seq, 3);
  });
  test('bodies without payload carry only their type', () => {
    assert.deepEqual(gw.parseWaitMessage('EVENT-HOLD', true), { type: 'event-hold' });
  });
  const malformed = [
    ['PUT-STATS not JSON', 'PUT-STATS nope', true, 'put-stats'],
    ['ROAP not JSON', 'RSMP {"messageType":', true, 'roap'],
    ['ROAP without messageType', 'RSMP {"sdp":"v=0"}', true, 'roap'],
    ['ROAP that is an array', 'x [1]', true, 'roap'],
    ['OFFER without sdp', 'SDP {"messageType":"OFFER"}', false, 'offer'],
    ['error not JSON', 'RSMP ERROR {errorType', true, 'error'],
  ];
  for (const [name, body, inCall, of] of malformed) {
    test(`malformed: ${name}`, () => {
      const m = gw.parseWaitMessage(body, inCall);
      assert.equal(m.type, 'malformed');
      assert.equal(m.of, of);
      assert.equal(typeof m.reason, 'string');
    });
  }
});

describe('sign-in response', () => {
  test('SSID is the part of line 1 after the first =', () => {
    assert.equal(gw.parseSignInResponse('anon1234=Zx9_-.~\n1001,1\n'), 'Zx9_-.~');
    assert.equal(gw.parseSignInResponse('1001=42\r\n'), '42');
    assert.equal(gw.parseSignInResponse('name=abc'), 'abc');
  });
  for (const bad of ['', 'no-equals', 'x=', 'x=a=b', 'x=a b', 'x=a&b', 'x=a#b', 'x=a/b', '\nx=1']) {
    test(`invalid response ${JSON.stringify(bad)} throws`, () => {
      assert.throws(() => gw.parseSignInResponse(bad), (e) => e instanceof gw.ClientError && e.code === 'CONNECTION_ERROR');
    });
  }
  test('Retry-After in seconds or as a date', () => {
    assert.equal(gw.parseRetryAfter('600'), 600);
    assert.equal(gw.parseRetryAfter(' 5 '), 5);
    assert.equal(gw.parseRetryAfter(null), null);
    assert.equal(gw.parseRetryAfter('soon'), null);
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(gw.parseRetryAfter('Wed, 01 Jan 2025 00:01:00 GMT', now), 60);
    assert.equal(gw.parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
  });
  test('failures are described for people', () => {
    assert.equal(gw.describeSignInFailure(403, 'wrong credentials', null), 'Registration refused: wrong DN or password');
    assert.equal(gw.describeSignInFailure(429, 'too many failed logins from this address', 600),
      'Sign-in refused (too many failed logins from this address): try again in 600 s');
    assert.equal(gw.describeSignInFailure(429, '', null), 'Sign-in refused (too many sign-ins from this address): try again later');
    assert.equal(gw.describeSignInFailure(0, '', null), 'Gateway unreachable');
    assert.equal(gw.describeSignInFailure(503, 'gateway full', null), 'Gateway unavailable: gateway full');
    assert.equal(gw.describeSignInFailure(503, '', null), 'Gateway unavailable: SIP Server unreachable or gateway full');
    assert.equal(gw.describeSignInFailure(504, '', null), 'The SIP Server did not answer in time');
    assert.equal(gw.describeSignInFailure(400, 'bad DN', null), 'The gateway rejected the sign-in request: bad DN');
    assert.equal(gw.describeSignInFailure(500, '', null), 'Sign-in failed (HTTP 500)');
  });
  test('anonymous ids are anon + 32 hex digits and differ', () => {
    const a = gw.anonymousId();
    assert.match(a, /^anon[0-9a-f]{32}$/);
    assert.notEqual(a, gw.anonymousId());
  });
});

describe('configuration', () => {
  test('defaults', () => {
    const c = gw.validateConfig({ webrtc_gateway: 'https://gw.example.com:8443/' });
    assert.equal(c.webrtc_gateway, 'https://gw.example.com:8443');
    assert.equal(c.dtls_srtp, true);
    assert.equal(c.noanswer_timeout, 60000);
    assert.equal(c.ice_timeout, 3000);
    assert.equal(c.polling_timeout, 30000);
    assert.ok(Object.isFrozen(c));
  });
  test('a path prefix is kept', () => {
    assert.equal(gw.validateConfig({ webrtc_gateway: 'https://example.com/webrtc/' }).webrtc_gateway, 'https://example.com/webrtc');
  });
  test('an unknown key is an error naming it', () => {
    assert.throws(() => gw.validateConfig({ webrtc_gateway: 'https://gw', enable_ipv6: true }), (e) =>
      e instanceof gw.ClientError && e.code === 'CONFIGURATION_ERROR' && e.key === 'enable_ipv6' && e.message.includes('enable_ipv6'));
  });
  const bad = [
    ['missing gateway', {}, 'webrtc_gateway'],
    ['empty gateway', { webrtc_gateway: ' ' }, 'webrtc_gateway'],
    ['not a URL', { webrtc_gateway: 'gw.example.com' }, 'webrtc_gateway'],
    ['ws scheme', { webrtc_gateway: 'ws://gw' }, 'webrtc_gateway'],
    ['query', { webrtc_gateway: 'https://gw/?x=1' }, 'webrtc_gateway'],
    ['credentials', { webrtc_gateway: 'https://u:p@gw' }, 'webrtc_gateway'],
    ['negative timeout', { webrtc_gateway: 'https://gw', noanswer_timeout: -1 }, 'noanswer_timeout'],
    ['zero ice timeout', { webrtc_gateway: 'https://gw', ice_timeout: 0 }, 'ice_timeout'],
    ['text timeout', { webrtc_gateway: 'https://gw', polling_timeout: 'long' }, 'polling_timeout'],
    ['dtls_srtp not boolean', { webrtc_gateway: 'https://gw', dtls_srtp: 'yes' }, 'dtls_srtp'],
    ['turn without credentials', { webrtc_gateway: 'https://gw', turn_server: 'turn.example.com' }, 'turn_username'],
    ['turn without password', { webrtc_gateway: 'https://gw', turn_server: 't', turn_username: 'u' }, 'turn_password'],
    ['object password', { webrtc_gateway: 'https://gw', sip_password: {} }, 'sip_password'],
  ];
  for (const [name, cfg, key] of bad) {
    test(`rejected: ${name}`, () => {
      assert.throws(() => gw.validateConfig(cfg), (e) => e.code === 'CONFIGURATION_ERROR' && e.key === key);
    });
  }
  test('not an object', () => {
    assert.throws(() => gw.validateConfig(null), (e) => e.code === 'CONFIGURATION_ERROR');
    assert.throws(() => gw.validateConfig('https://gw'), (e) => e.code === 'CONFIGURATION_ERROR');
  });
  test('numeric strings and 0 polling timeout are accepted (grtc compatibility)', () => {
    const c = gw.validateConfig({ webrtc_gateway: 'http://127.0.0.1:8080', noanswer_timeout: '20000', polling_timeout: 0, dtls_srtp: 'false' });
    assert.equal(c.noanswer_timeout, 20000);
    assert.equal(c.polling_timeout, 0);
    assert.equal(c.dtls_srtp, false);
  });
  test('ICE servers from comma-separated lists', () => {
    assert.deepEqual(gw.buildIceServers(gw.validateConfig({
      webrtc_gateway: 'https://gw',
      stun_server: 'stun1.example.com:3478, stun:stun2.example.com',
      turn_server: 'turn.example.com:3478?transport=udp,turns:turn.example.com:5349',
      turn_username: 'u',
      turn_password: 'p',
    })), [
      { urls: 'stun:stun1.example.com:3478' },
      { urls: 'stun:stun2.example.com' },
      { urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349'], username: 'u', credential: 'p' },
    ]);
    assert.deepEqual(gw.buildIceServers(gw.validateConfig({ webrtc_gateway: 'https://gw' })), []);
  });
});

describe('ROAP messages', () => {
  test('session ids count up from 102', () => {
    const next = gw.createSessionIdAllocator();
    assert.deepEqual([next(), next(), next()], [102, 103, 104]);
  });
  test('OFFER: proto rewritten, candidates extracted, tiebreaker set', () => {
    const m = gw.buildRoapMessage({ type: 'OFFER', sdp: CHROME_OFFER, offererSessionId: 102, seq: 1 });
    assert.deepEqual(Object.keys(m), ['messageType', 'sdp', 'Candidates', 'offererSessionId', 'seq', 'tiebreaker']);
    assert.ok(!m.sdp.includes('UDP/TLS/RTP/SAVPF'));
    assert.ok(m.sdp.includes('m=audio 9 RTP/SAVPF 111 63 9 0 8 13 110 126\r\n'));
    assert.ok(m.sdp.includes('m=video 9 RTP/SAVPF 96\r\n'));
    assert.deepEqual(m.Candidates, [
      { sdpMLineIndex: 0, sdpMid: '0', candidate: 'candidate:1 1 udp 2122260223 192.0.2.10 50000 typ host generation 0' },
      { sdpMLineIndex: 0, sdpMid: '0', candidate: 'candidate:2 1 udp 1686052607 198.51.100.7 50001 typ srflx raddr 192.0.2.10 rport 50000' },
      { sdpMLineIndex: 1, sdpMid: '1', candidate: 'candidate:3 1 udp 2122260223 192.0.2.10 50002 typ host' },
    ]);
    assert.ok(Number.isInteger(m.tiebreaker) && m.tiebreaker >= 1 && m.tiebreaker <= 429496723);
  });
  test('a given tiebreaker, answerer id and attached data are kept', () => {
    const m = gw.buildRoapMessage({
      type: 'OFFER', sdp: 'v=0\r\n', offererSessionId: 103, answererSessionId: 7, seq: 2, tiebreaker: 5,
      attacheddata: [{ key: 'k', value: 'v' }],
    });
    assert.equal(m.answererSessionId, 7);
    assert.equal(m.tiebreaker, 5);
    assert.deepEqual(m.attacheddata, [{ key: 'k', value: 'v' }]);
  });
  test('ANSWER and OK carry no tiebreaker', () => {
    const a = gw.buildRoapMessage({ type: 'ANSWER', sdp: CHROME_OFFER, offererSessionId: 9, answererSessionId: 102, seq: 4 });
    assert.equal('tiebreaker' in a, false);
    assert.equal(a.offererSessionId, 9);
    assert.equal(a.answererSessionId, 102);
    const ok = gw.buildRoapMessage({ type: 'OK', offererSessionId: 102, answererSessionId: 9, seq: 1 });
    assert.deepEqual(ok, { messageType: 'OK', offererSessionId: 102, answererSessionId: 9, seq: 1 });
  });
  test('formatRoap prefixes RSMP', () => {
    assert.equal(gw.formatRoap({ messageType: 'OK' }), 'RSMP {"messageType":"OK"}');
  });
  test('rewriteProto touches only m-lines', () => {
    const sdp = 'a=x UDP/TLS/RTP/SAVPF\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nm=audio 9/2 UDP/TLS/RTP/SAVPF 8\r\nm=audio 9 RTP/SAVPF 0\r\n';
    assert.equal(gw.rewriteProto(sdp), 'a=x UDP/TLS/RTP/SAVPF\r\nm=audio 9 RTP/SAVPF 0\r\nm=audio 9/2 RTP/SAVPF 8\r\nm=audio 9 RTP/SAVPF 0\r\n');
  });
  test('candidates of an SDP without a=mid use the media kind', () => {
    const sdp = 'v=0\nm=audio 1 RTP/SAVPF 0\na=candidate:1 1 udp 1 10.0.0.1 1 typ host\nm=video 1 RTP/SAVPF 96\na=candidate:2 1 udp 1 10.0.0.1 2 typ host\n';
    assert.deepEqual(gw.extractCandidates(sdp), [
      { sdpMLineIndex: 0, sdpMid: 'audio', candidate: 'candidate:1 1 udp 1 10.0.0.1 1 typ host' },
      { sdpMLineIndex: 1, sdpMid: 'video', candidate: 'candidate:2 1 udp 1 10.0.0.1 2 typ host' },
    ]);
    assert.deepEqual(gw.extractCandidates('v=0\r\n'), []);
  });
  test('remote candidates become RTCIceCandidateInit', () => {
    assert.deepEqual(gw.toCandidateInit({ sdpMid: '0', sdpMLineIndex: 0, candidate: 'candidate:1 x' }, ['0']), { candidate: 'candidate:1 x', sdpMid: '0' });
    assert.deepEqual(gw.toCandidateInit({ sdpMid: 'audio', sdpMLineIndex: 1, candidate: 'a=candidate:1 x' }, ['0', '1']), { candidate: 'candidate:1 x', sdpMLineIndex: 1 });
    assert.deepEqual(gw.toCandidateInit({ candidate: 'candidate:1 x' }, []), { candidate: 'candidate:1 x', sdpMLineIndex: 0 });
    assert.equal(gw.toCandidateInit({ candidate: 'bogus' }, ['0']), null);
    assert.equal(gw.toCandidateInit(null, ['0']), null);
  });
});

describe('SDP direction helpers', () => {
  test('getDirection', () => {
    assert.equal(gw.getDirection(CHROME_OFFER), 'sendrecv');
    assert.equal(gw.getDirection('v=0\r\nm=audio 9 RTP/SAVPF 0\r\na=sendonly\r\n'), 'sendonly');
    assert.equal(gw.getDirection('v=0\r\na=inactive\r\nm=audio 9 RTP/SAVPF 0\r\n'), 'inactive', 'session level');
    assert.equal(gw.getDirection('v=0\r\nm=audio 0 RTP/SAVPF 0\r\na=inactive\r\nm=audio 9 RTP/SAVPF 0\r\na=recvonly\r\n'), 'recvonly', 'rejected section skipped');
    assert.equal(gw.getDirection('v=0\r\nm=video 9 RTP/SAVPF 96\r\na=sendonly\r\nm=audio 9 RTP/SAVPF 0\r\n'), 'sendrecv', 'audio first');
    assert.equal(gw.getDirection('v=0\r\n'), 'sendrecv');
  });
  test('isHoldDirection', () => {
    assert.deepEqual(['sendrecv', 'sendonly', 'recvonly', 'inactive'].map(gw.isHoldDirection), [false, true, false, true]);
  });
  test('setDirection replaces every media direction', () => {
    const held = gw.setDirection(CHROME_OFFER, 'inactive');
    assert.ok(!/a=(sendrecv|sendonly|recvonly)/.test(held));
    assert.equal(held.match(/a=inactive/g).length, 2);
    assert.equal(gw.getDirection(held), 'inactive');
    assert.ok(held.endsWith('\r\n'));
    assert.equal(gw.setDirection(held, 'sendrecv').match(/a=sendrecv/g).length, 2);
  });
  test('setDirection adds a direction where a section has none and leaves rejected sections', () => {
    const sdp = 'v=0\r\na=sendrecv\r\nm=audio 9 RTP/SAVPF 0\r\na=mid:0\r\nm=video 0 RTP/SAVPF 96\r\na=sendrecv\r\n';
    assert.equal(gw.setDirection(sdp, 'inactive'),
      'v=0\r\na=inactive\r\nm=audio 9 RTP/SAVPF 0\r\na=mid:0\r\na=inactive\r\nm=video 0 RTP/SAVPF 96\r\na=sendrecv\r\n');
    assert.throws(() => gw.setDirection(sdp, 'sideways'), TypeError);
  });
});

describe('INFO data', () => {
  test('object round trip', () => {
    const data = { Name: 'Jane Doe', Account: '123&456=7', Note: 'café ünïcode +1', Empty: '' };
    const text = gw.encodeInfo(data);
    assert.equal(text, 'Name=Jane+Doe&Account=123%26456%3D7&Note=caf%C3%A9+%C3%BCn%C3%AFcode+%2B1&Empty=');
    assert.deepEqual(gw.decodeInfo(text), data);
  });
  test('array of {key, value}, non-string values', () => {
    const text = gw.encodeInfo([{ key: 'a', value: 1 }, { key: 'b', value: true }, { key: 'c', value: null }, { key: 'd', value: { x: 1 } }]);
    assert.equal(text, 'a=1&b=true&c=&d=%7B%22x%22%3A1%7D');
    assert.deepEqual(gw.decodeInfo(text), { a: '1', b: 'true', c: '', d: '{"x":1}' });
  });
  test('a repeated key decodes to an array', () => {
    assert.deepEqual(gw.decodeInfo('k=1&k=2&k=3'), { k: ['1', '2', '3'] });
  });
  test('a __proto__ key is plain data', () => {
    const d = gw.decodeInfo('__proto__=x&constructor=y');
    assert.equal(Object.getPrototypeOf(d), Object.prototype);
    assert.equal(d.__proto__, 'x'); // eslint-disable-line no-proto
    assert.deepEqual(Object.keys(d), ['__proto__', 'constructor']);
  });
  test('line breaks in the wire form are ignored', () => {
    assert.deepEqual(gw.decodeInfo('a=1\r\n&b=2\n'), { a: '1', b: '2' });
  });
  for (const [name, data] of [['empty object', {}], ['empty array', []], ['string', 'a=1'], ['null', null], ['item without key', [{ value: 1 }]]]) {
    test(`rejected: ${name}`, () => {
      assert.throws(() => gw.encodeInfo(data), (e) => e.code === 'INVALID_ARGUMENT_ERROR');
    });
  }
  test('attached data normalisation', () => {
    assert.deepEqual(gw.normalizeAttachedData({ a: '1', b: 2 }), [{ key: 'a', value: '1' }, { key: 'b', value: 2 }]);
    assert.deepEqual(gw.normalizeAttachedData([{ key: 'x', value: 'y' }]), [{ key: 'x', value: 'y' }]);
    for (const bad of [null, [], {}, [{ key: '', value: 1 }], [{ key: 'a', value: {} }], 'x']) {
      assert.throws(() => gw.normalizeAttachedData(bad), (e) => e.code === 'INVALID_ARGUMENT_ERROR');
    }
  });
});

describe('Callbacks', () => {
  test('unique handlers, stopOnFalse, remove, and a throwing handler does not stop the others', () => {
    gw.setLogger(null);
    const ev = new gw.Callbacks();
    const calls = [];
    const a = (x) => calls.push(['a', x]);
    const boom = () => { throw new Error('app bug'); };
    const stop = () => { calls.push(['stop']); return false; };
    const never = () => calls.push(['never']);
    ev.add(a).add(a).add(boom, stop).add([never]);
    ev.fire(1);
    assert.deepEqual(calls, [['a', 1], ['stop']]);
    ev.remove(stop);
    calls.length = 0;
    ev.fire(2);
    assert.deepEqual(calls, [['a', 2], ['never']]);
    assert.ok(ev.has(a) && ev.has());
    ev.empty();
    assert.equal(ev.has(), false);
    assert.throws(() => ev.add('nope'), TypeError);
  });
});

describe('summarizeStats', () => {
  test('audio figures from a Chrome-like report', () => {
    const report = new Map([
      ['T', { id: 'T', type: 'transport', selectedCandidatePairId: 'CP' }],
      ['CP', { id: 'CP', type: 'candidate-pair', currentRoundTripTime: 0.05 }],
      ['C', { id: 'C', type: 'codec', mimeType: 'audio/PCMU', clockRate: 8000 }],
      ['O', { id: 'O', type: 'outbound-rtp', kind: 'audio', codecId: 'C', packetsSent: 500, bytesSent: 80000 }],
      ['I', { id: 'I', type: 'inbound-rtp', kind: 'audio', codecId: 'C', packetsReceived: 490, bytesReceived: 78400, packetsLost: 3, jitter: 0.00425 }],
      ['V', { id: 'V', type: 'inbound-rtp', kind: 'video', packetsReceived: 1 }],
    ]);
    assert.deepEqual(gw.summarizeStats(report), {
      codec: 'PCMU/8000', packetsSent: 500, bytesSent: 80000, packetsReceived: 490, bytesReceived: 78400,
      packetsLost: 3, remotePacketsLost: null, jitter: 4.3, rtt: 50,
    });
  });
  test('remote-inbound RTT wins; missing figures are null', () => {
    const report = new Map([
      ['R', { id: 'R', type: 'remote-inbound-rtp', kind: 'audio', roundTripTime: 0.0123, packetsLost: 2 }],
      ['CP', { id: 'CP', type: 'candidate-pair', nominated: true, state: 'succeeded', currentRoundTripTime: 0.5 }],
    ]);
    const s = gw.summarizeStats(report);
    assert.equal(s.rtt, 12.3);
    assert.equal(s.remotePacketsLost, 2);
    assert.equal(s.codec, null);
    assert.equal(s.packetsSent, null);
    assert.equal(s.jitter, null);
  });
});
