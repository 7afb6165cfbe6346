/*!
 * WebRTC Gateway JavaScript client library.
 *
 * Connects a web page to the WebRTC Gateway over HTTP long-polling and makes
 * calls to and from the SIP side. No dependencies. The wire protocol is the
 * one of the Genesys WebRTC JavaScript API ("grtc" 8.5), so the gateway also
 * serves existing grtc applications; docs/javascript-api.md describes the API.
 *
 * A classic script: in a browser it defines one global, WebRTCGateway; under
 * CommonJS (Node tests) it exports the same object.
 */
(function (root, factory) {
  'use strict';
  const api = factory(root);
  if (typeof module === 'object' && module && module.exports) {
    module.exports = api;
  } else {
    root.WebRTCGateway = api;
  }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (root) {
  'use strict';

  const VERSION = '1.0.0';

  // ---------------------------------------------------------------- errors

  /** Error codes carried by ClientError.code. */
  const ErrorCode = Object.freeze({
    CONFIGURATION: 'CONFIGURATION_ERROR',
    INVALID_ARGUMENT: 'INVALID_ARGUMENT_ERROR',
    INVALID_STATE: 'INVALID_STATE_ERROR',
    CONNECTION: 'CONNECTION_ERROR',
    WEBRTC: 'WEBRTC_ERROR',
    NO_ANSWER: 'NO_ANSWER',
    CANCELLED: 'CANCELLED',
  });

  /** The one error type the library throws or rejects with. */
  class ClientError extends Error {
    constructor(code, message, details) {
      super(message);
      this.name = 'ClientError';
      this.code = code;
      if (details) Object.assign(this, details);
    }
  }

  function cancelled(what) {
    return new ClientError(ErrorCode.CANCELLED, what || 'the call was closed');
  }

  // A promise the library returns may be ignored by grtc-style code that
  // relies on events; mark it handled so that does not log an unhandled
  // rejection, while callers that await it still see the error.
  function handled(promise) {
    promise.catch(() => {});
    return promise;
  }

  // ---------------------------------------------------------------- logging

  let logger = root && root.console ? root.console : null;

  /** Route the library's log lines to another console-like object, or null for silence. */
  function setLogger(next) {
    logger = next || null;
  }

  // Log lines carry message types and ids only: never bodies, SDPs or passwords.
  function logAt(level, args) {
    if (logger && typeof logger[level] === 'function') logger[level]('[webrtc-gateway]', ...args);
  }
  const log = {
    debug: (...a) => logAt('debug', a),
    info: (...a) => logAt('info', a),
    warn: (...a) => logAt('warn', a),
    error: (...a) => logAt('error', a),
  };

  // ---------------------------------------------------------------- events

  /**
   * Callbacks is one event: add(fn) and remove(fn) handlers, as jQuery's
   * $.Callbacks("unique stopOnFalse") that grtc uses: a handler is added once,
   * and one that returns false stops the handlers added after it.
   */
  class Callbacks {
    constructor() {
      this._handlers = [];
    }

    add(...fns) {
      for (const fn of fns.flat()) {
        if (typeof fn !== 'function') throw new TypeError('event handler must be a function');
        if (!this._handlers.includes(fn)) this._handlers.push(fn);
      }
      return this;
    }

    remove(...fns) {
      const drop = fns.flat();
      this._handlers = this._handlers.filter((fn) => !drop.includes(fn));
      return this;
    }

    has(fn) {
      return fn === undefined ? this._handlers.length > 0 : this._handlers.includes(fn);
    }

    empty() {
      this._handlers = [];
      return this;
    }

    fire(...args) {
      for (const fn of this._handlers.slice()) {
        let result;
        try {
          result = fn(...args);
        } catch (err) {
          // An application bug must not break the library's state machine.
          log.error('event handler threw:', err);
          continue;
        }
        if (result === false) break;
      }
      return this;
    }
  }

  // ---------------------------------------------------------------- configuration

  const CONFIG_DEFAULTS = Object.freeze({
    stun_server: '',
    turn_server: '',
    turn_username: '',
    turn_password: '',
    sip_username: '',
    sip_password: '',
    dtls_srtp: true,
    noanswer_timeout: 60000,
    ice_timeout: 3000,
    polling_timeout: 30000,
  });
  const CONFIG_KEYS = Object.freeze(['webrtc_gateway'].concat(Object.keys(CONFIG_DEFAULTS)));

  function configError(key, message) {
    return new ClientError(ErrorCode.CONFIGURATION, `configuration: ${message}`, { key });
  }

  function configNumber(input, key, allowZero) {
    const raw = input[key];
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || (n === 0 && !allowZero)) {
      throw configError(key, `${key} must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds`);
    }
    return n;
  }

  /**
   * validateConfig checks a Client configuration and returns a frozen copy with
   * the defaults filled in. It throws a ClientError (code CONFIGURATION_ERROR,
   * .key = the offending key) for an unknown key or a bad value.
   */
  function validateConfig(input) {
    if (!input || typeof input !== 'object' || Array.isArray(input)) {
      throw configError(null, 'the configuration must be an object');
    }
    for (const key of Object.keys(input)) {
      if (!CONFIG_KEYS.includes(key)) throw configError(key, `unknown key "${key}"`);
    }
    const cfg = Object.assign({}, CONFIG_DEFAULTS);

    const gw = input.webrtc_gateway;
    if (typeof gw !== 'string' || gw.trim() === '') {
      throw configError('webrtc_gateway', 'webrtc_gateway (the gateway base URL) is required');
    }
    let url;
    try {
      url = new URL(gw.trim());
    } catch (err) {
      throw configError('webrtc_gateway', `webrtc_gateway is not a URL: ${gw}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw configError('webrtc_gateway', 'webrtc_gateway must be an https:// (or http://) URL');
    }
    if (url.username || url.password || url.search || url.hash) {
      throw configError('webrtc_gateway', 'webrtc_gateway must not carry credentials, a query or a fragment');
    }
    // A path is kept, for a gateway published below a prefix by a reverse proxy.
    cfg.webrtc_gateway = (url.origin + url.pathname).replace(/\/+$/, '');

    for (const key of ['stun_server', 'turn_server', 'turn_username', 'turn_password', 'sip_username', 'sip_password']) {
      const v = input[key];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string' && typeof v !== 'number') throw configError(key, `${key} must be a string`);
      cfg[key] = String(v);
    }
    if (cfg.turn_server && (!cfg.turn_username || !cfg.turn_password)) {
      throw configError(cfg.turn_username ? 'turn_password' : 'turn_username',
        'turn_server needs turn_username and turn_password');
    }

    if (input.dtls_srtp !== undefined) {
      const v = input.dtls_srtp;
      if (v === true || v === 'true') cfg.dtls_srtp = true;
      else if (v === false || v === 'false') cfg.dtls_srtp = false;
      else throw configError('dtls_srtp', 'dtls_srtp must be true or false');
    }
    if (input.noanswer_timeout !== undefined) cfg.noanswer_timeout = configNumber(input, 'noanswer_timeout', false);
    if (input.ice_timeout !== undefined) cfg.ice_timeout = configNumber(input, 'ice_timeout', false);
    // 0 turns the client-side abort of the hanging GET off, as in grtc.
    if (input.polling_timeout !== undefined) cfg.polling_timeout = configNumber(input, 'polling_timeout', true);
    return Object.freeze(cfg);
  }

  /** buildIceServers turns the comma-separated stun_server/turn_server keys into RTCIceServer entries. */
  function buildIceServers(cfg) {
    const list = (s) => String(s || '').split(',').map((x) => x.trim()).filter(Boolean);
    const servers = [];
    for (const s of list(cfg.stun_server)) servers.push({ urls: /^stuns?:/i.test(s) ? s : 'stun:' + s });
    const turns = list(cfg.turn_server).map((s) => (/^turns?:/i.test(s) ? s : 'turn:' + s));
    if (turns.length) servers.push({ urls: turns, username: cfg.turn_username, credential: cfg.turn_password });
    return servers;
  }

  // ---------------------------------------------------------------- identifiers

  function randomUint32() {
    const c = root.crypto;
    if (c && typeof c.getRandomValues === 'function') return c.getRandomValues(new Uint32Array(1))[0];
    return Math.floor(Math.random() * 0x100000000);
  }

  /** anonymousId returns a fresh id for connect(): "anon" and 32 hex digits. */
  function anonymousId() {
    let hex = '';
    for (let i = 0; i < 4; i++) hex += randomUint32().toString(16).padStart(8, '0');
    return 'anon' + hex;
  }

  /** randomTiebreaker returns a ROAP tiebreaker in 1..429496723, the range grtc uses. */
  function randomTiebreaker() {
    return (randomUint32() % 429496723) + 1;
  }

  /** createSessionIdAllocator returns a function that hands out ROAP session ids from start up. */
  function createSessionIdAllocator(start) {
    let next = start === undefined ? 102 : start;
    return () => next++;
  }
  // Session ids count up per call across the page, from 102 as in grtc.
  const allocateSessionId = createSessionIdAllocator(102);

  // A DN or destination travels in a query string and, for a DN with a
  // password, before the ":" of the sign-in body.
  const ID_FORBIDDEN = /[\s\x00-\x1f\x7f]/;

  function checkDestination(to, what) {
    if (typeof to === 'number') to = String(to);
    if (typeof to !== 'string' || to.trim() === '') {
      throw new ClientError(ErrorCode.INVALID_ARGUMENT, `${what} is required`);
    }
    to = to.trim();
    if (ID_FORBIDDEN.test(to) || to.length > 256) {
      throw new ClientError(ErrorCode.INVALID_ARGUMENT, `${what} must not contain spaces or control characters`);
    }
    return to;
  }

  function checkDn(dn) {
    dn = checkDestination(dn, 'the DN');
    if (dn.includes(':')) throw new ClientError(ErrorCode.INVALID_ARGUMENT, 'the DN must not contain ":"');
    return dn;
  }

  // ---------------------------------------------------------------- sign-in

  // The gateway promises a URL-safe id; anything else would corrupt the
  // query strings it is put into unescaped.
  const SSID_RE = /^[A-Za-z0-9._~-]+$/;

  /**
   * parseSignInResponse takes the body of a 200 answer to /sign_in and returns
   * the session id (SSID): the part of line 1 after its first "=".
   */
  function parseSignInResponse(text) {
    const line = String(text).split(/\r?\n/, 1)[0];
    const eq = line.indexOf('=');
    const ssid = eq >= 0 ? line.slice(eq + 1).trim() : '';
    if (!SSID_RE.test(ssid)) {
      throw new ClientError(ErrorCode.CONNECTION, 'the gateway sent an invalid sign-in response');
    }
    return ssid;
  }

  /** parseRetryAfter reads a Retry-After header (seconds or an HTTP date) as seconds, or null. */
  function parseRetryAfter(value, now) {
    if (value === null || value === undefined) return null;
    const v = String(value).trim();
    if (/^\d+$/.test(v)) return parseInt(v, 10);
    const t = Date.parse(v);
    if (Number.isNaN(t)) return null;
    return Math.max(0, Math.ceil((t - (now === undefined ? Date.now() : now)) / 1000));
  }

  /**
   * sessionOver tells whether an answer to /wait or /message says the session
   * has ended: a 2xx other than 200 (the gateway answers 204), as the Genesys
   * library reads it.
   */
  function sessionOver(status) {
    return status > 200 && status < 300;
  }

  /** firstLine returns the first line of an error body, trimmed and bounded, for display. */
  function firstLine(text) {
    const line = String(text || '').split(/\r?\n/, 1)[0].trim();
    return line.length > 200 ? line.slice(0, 200) + '…' : line;
  }

  /** describeSignInFailure turns a failed sign-in into a sentence for the user. */
  function describeSignInFailure(status, serverMessage, retryAfter) {
    const detail = serverMessage ? `: ${serverMessage}` : '';
    switch (status) {
      case 0:
        return 'Gateway unreachable';
      case 400:
        return `The gateway rejected the sign-in request${detail || ': bad request'}`;
      case 401:
      case 403:
        return 'Registration refused: wrong DN or password';
      case 429: {
        // Banned after failed logins, or over a sign-in limit of this address.
        const why = serverMessage || 'too many sign-ins from this address';
        const when = retryAfter !== null && retryAfter !== undefined ? `try again in ${retryAfter} s` : 'try again later';
        return `Sign-in refused (${why}): ${when}`;
      }
      case 503:
        return `Gateway unavailable${detail || ': SIP Server unreachable or gateway full'}`;
      case 504:
        return `The SIP Server did not answer in time${detail}`;
      default:
        return `Sign-in failed (HTTP ${status})${detail}`;
    }
  }

  // ---------------------------------------------------------------- INFO data

  function infoValue(v) {
    if (v === null || v === undefined) return '';
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }

  /**
   * encodeInfo serialises INFO data, an object or an array of {key, value},
   * as application/x-www-form-urlencoded.
   */
  function encodeInfo(data) {
    const params = new URLSearchParams();
    if (Array.isArray(data)) {
      for (const item of data) {
        if (!item || typeof item !== 'object' || typeof item.key !== 'string' || item.key === '') {
          throw new ClientError(ErrorCode.INVALID_ARGUMENT, 'INFO data items must be {key, value} with a non-empty key');
        }
        params.append(item.key, infoValue(item.value));
      }
    } else if (data && typeof data === 'object') {
      for (const [k, v] of Object.entries(data)) params.append(k, infoValue(v));
    } else {
      throw new ClientError(ErrorCode.INVALID_ARGUMENT, 'INFO data must be an object or an array of {key, value}');
    }
    const text = params.toString();
    if (text === '') throw new ClientError(ErrorCode.INVALID_ARGUMENT, 'INFO data must not be empty');
    return text;
  }

  /** decodeInfo parses urlencoded INFO data into an object; a repeated key gives an array. */
  function decodeInfo(text) {
    const out = {};
    for (const [k, v] of new URLSearchParams(String(text).replace(/[\r\n]/g, ''))) {
      const value = Object.prototype.hasOwnProperty.call(out, k) ? [].concat(out[k], v) : v;
      // defineProperty: a key such as "__proto__" becomes data, not a prototype.
      Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  /** normalizeAttachedData turns setData() input into the [{key, value}] list sent as attacheddata. */
  function normalizeAttachedData(data) {
    const items = Array.isArray(data)
      ? data
      : data && typeof data === 'object' ? Object.entries(data).map(([key, value]) => ({ key, value })) : null;
    if (!items || items.length === 0) {
      throw new ClientError(ErrorCode.INVALID_ARGUMENT, 'attached data must be a non-empty object or array of {key, value}');
    }
    return items.map((item) => {
      const ok = item && typeof item === 'object' && typeof item.key === 'string' && item.key !== '' &&
        ['string', 'number', 'boolean'].includes(typeof item.value);
      if (!ok) throw new ClientError(ErrorCode.INVALID_ARGUMENT, 'attached data items must be {key: string, value: string|number|boolean}');
      return { key: item.key, value: item.value };
    });
  }

  // ---------------------------------------------------------------- SDP helpers

  const DIRECTIONS = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

  function sdpLines(sdp) {
    const lines = String(sdp).split(/\r\n|\n/);
    if (lines[lines.length - 1] === '') lines.pop();
    return lines;
  }

  function joinSdp(lines) {
    return lines.join('\r\n') + '\r\n';
  }

  // sdpSections splits an SDP into its media sections with what the library needs of each.
  function sdpSections(sdp) {
    const sections = [];
    let session = null;
    let cur = null;
    for (const line of sdpLines(sdp)) {
      if (line.startsWith('m=')) {
        const parts = line.slice(2).split(' ');
        cur = { kind: parts[0], port: parseInt(parts[1], 10), mid: null, direction: null, candidates: [] };
        sections.push(cur);
      } else if (line.startsWith('a=') && DIRECTIONS.includes(line.slice(2).trim())) {
        if (cur) cur.direction = line.slice(2).trim();
        else session = line.slice(2).trim();
      } else if (cur && line.startsWith('a=mid:')) {
        cur.mid = line.slice(6).trim();
      } else if (cur && line.startsWith('a=candidate:')) {
        cur.candidates.push(line.slice(2).trim());
      }
    }
    return { session, sections };
  }

  /** rewriteProto replaces the media proto UDP/TLS/RTP/SAVPF by RTP/SAVPF, as grtc sends it. */
  function rewriteProto(sdp) {
    return String(sdp).replace(/^(m=[a-z]+ \d+(?:\/\d+)? )UDP\/TLS\/RTP\/SAVPF(?= )/gim, '$1RTP/SAVPF');
  }

  /**
   * extractCandidates lists the a=candidate lines of an SDP as ROAP Candidates:
   * {sdpMLineIndex, sdpMid, candidate: "candidate:..."}; sdpMid is the a=mid of
   * the section, or its media kind when it has none (older SDPs).
   */
  function extractCandidates(sdp) {
    const out = [];
    sdpSections(sdp).sections.forEach((s, index) => {
      for (const candidate of s.candidates) {
        out.push({ sdpMLineIndex: index, sdpMid: s.mid !== null ? s.mid : s.kind, candidate });
      }
    });
    return out;
  }

  /** sdpMids lists the a=mid values of an SDP, in m-line order. */
  function sdpMids(sdp) {
    return sdpSections(sdp).sections.map((s) => s.mid).filter((m) => m !== null);
  }

  /**
   * getDirection returns the media direction an SDP asks for: that of its first
   * active audio section (else first active section), else the session level,
   * else sendrecv.
   */
  function getDirection(sdp) {
    const { session, sections } = sdpSections(sdp);
    const live = sections.filter((s) => s.port !== 0);
    const pick = live.find((s) => s.kind === 'audio') || live[0];
    return (pick && pick.direction) || session || 'sendrecv';
  }

  /** isHoldDirection tells whether a remote offer's direction means "you are on hold". */
  function isHoldDirection(direction) {
    return direction === 'inactive' || direction === 'sendonly';
  }

  /**
   * setDirection makes every active media section of an SDP say a=<direction>
   * (replacing or adding the attribute); rejected (port 0) sections are left alone.
   */
  function setDirection(sdp, direction) {
    if (!DIRECTIONS.includes(direction)) throw new TypeError(`invalid SDP direction ${direction}`);
    const out = [];
    let inMedia = false;
    let rejected = false;
    let seen = false;
    const finishSection = () => {
      if (inMedia && !rejected && !seen) out.push('a=' + direction);
    };
    for (const line of sdpLines(sdp)) {
      if (line.startsWith('m=')) {
        finishSection();
        inMedia = true;
        rejected = parseInt(line.slice(2).split(' ')[1], 10) === 0;
        seen = false;
        out.push(line);
      } else if (line.startsWith('a=') && DIRECTIONS.includes(line.slice(2).trim())) {
        seen = true;
        out.push(inMedia && rejected ? line : 'a=' + direction);
      } else {
        out.push(line);
      }
    }
    finishSection();
    return joinSdp(out);
  }

  /**
   * toCandidateInit turns a ROAP candidate into an RTCIceCandidateInit, or null
   * if it is not one. It accepts "a=candidate:" too (older grtc sent that) and
   * falls back to the m-line index when sdpMid names no section of the SDP.
   */
  function toCandidateInit(c, mids) {
    if (!c || typeof c !== 'object') return null;
    let candidate = String(c.candidate || '').trim();
    if (candidate.startsWith('a=')) candidate = candidate.slice(2);
    if (!candidate.startsWith('candidate:')) return null;
    if (c.sdpMid !== undefined && c.sdpMid !== null && mids.includes(String(c.sdpMid))) {
      return { candidate, sdpMid: String(c.sdpMid) };
    }
    return { candidate, sdpMLineIndex: Number.isInteger(c.sdpMLineIndex) ? c.sdpMLineIndex : 0 };
  }

  // ---------------------------------------------------------------- ROAP messages

  /**
   * buildRoapMessage builds a ROAP message object. For OFFER and ANSWER it
   * rewrites the SDP proto and repeats the SDP's candidates in Candidates
   * (ICE is not trickled); tiebreaker is only in OFFER; answererSessionId and
   * attacheddata only when known.
   */
  function buildRoapMessage(o) {
    const msg = { messageType: o.type };
    if (o.sdp !== undefined && o.sdp !== null) {
      msg.sdp = rewriteProto(o.sdp);
      msg.Candidates = extractCandidates(msg.sdp);
    }
    msg.offererSessionId = o.offererSessionId;
    if (o.answererSessionId !== undefined && o.answererSessionId !== null) msg.answererSessionId = o.answererSessionId;
    msg.seq = o.seq;
    if (o.type === 'OFFER') msg.tiebreaker = o.tiebreaker !== undefined ? o.tiebreaker : randomTiebreaker();
    if (o.attacheddata && o.attacheddata.length) msg.attacheddata = o.attacheddata;
    return msg;
  }

  /** formatRoap is the /message body of a ROAP message. */
  function formatRoap(msg) {
    return 'RSMP ' + JSON.stringify(msg);
  }

  // ---------------------------------------------------------------- gateway messages

  /**
   * classifyMessage says what a /wait body is, testing in exactly the order
   * grtc does (PROTOCOL.md, "How the client classifies what /wait delivers"):
   * bye, invite, event-talk, event-hold, info-peer, put-stats, error, then
   * roap (only while a call exists and without "OFFER"), offer, or unknown.
   */
  function classifyMessage(body, inCall) {
    const s = String(body);
    if (s.startsWith('BYE')) return 'bye';
    if (s.startsWith('INVITE')) return 'invite';
    if (s.startsWith('EVENT-TALK')) return 'event-talk';
    if (s.startsWith('EVENT-HOLD')) return 'event-hold';
    if (s.startsWith('INFO-PEER ')) return 'info-peer';
    if (s.startsWith('PUT-STATS')) return 'put-stats';
    if (s.indexOf('ERROR') > 0 && s.indexOf('errorType') > 0 && s.indexOf('{') > 0) return 'error';
    const hasOffer = s.includes('OFFER');
    if (inCall && !hasOffer) return 'roap';
    if (s.startsWith('SDP') && hasOffer) return 'offer';
    return 'unknown';
  }

  function jsonFromBrace(s) {
    const i = s.indexOf('{');
    if (i < 0) throw new SyntaxError('no JSON object');
    const v = JSON.parse(s.slice(i));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new SyntaxError('not a JSON object');
    return v;
  }

  /**
   * parseWaitMessage classifies a /wait body and parses its payload:
   * {type, data} for info-peer, {type, stats} for put-stats, {type, error} for
   * error, {type, message} for roap and offer; {type: 'malformed', of, reason}
   * when the payload does not parse.
   */
  function parseWaitMessage(body, inCall) {
    const s = String(body);
    const type = classifyMessage(s, inCall);
    try {
      switch (type) {
        case 'info-peer':
          return { type, data: decodeInfo(s.slice('INFO-PEER '.length)) };
        case 'put-stats':
          return { type, stats: JSON.parse(s.slice('PUT-STATS'.length)) };
        case 'error':
          return { type, error: jsonFromBrace(s) };
        case 'roap':
        case 'offer': {
          const message = jsonFromBrace(s);
          if (typeof message.messageType !== 'string') throw new SyntaxError('no messageType');
          if (type === 'offer' && typeof message.sdp !== 'string') throw new SyntaxError('OFFER without sdp');
          return { type, message };
        }
        default:
          return { type };
      }
    } catch (err) {
      return { type: 'malformed', of: type, reason: err.message };
    }
  }

  // ---------------------------------------------------------------- statistics

  function codecName(c) {
    const mime = String(c.mimeType || '').replace(/^(audio|video)\//i, '');
    return mime ? (c.clockRate ? `${mime}/${c.clockRate}` : mime) : null;
  }

  const round1 = (n) => Math.round(n * 10) / 10;

  /**
   * summarizeStats reduces an RTCStatsReport to the audio figures a softphone
   * shows: codec, packets and bytes sent/received, packets lost (received side
   * and as reported by the far end), jitter and round-trip time in ms. A
   * figure the browser does not report is null.
   */
  function summarizeStats(report) {
    const all = [];
    report.forEach((s) => all.push(s));
    const byId = (id) => (id ? all.find((s) => s.id === id) : undefined);
    const isAudio = (s) => (s.kind || s.mediaType) === 'audio';
    const num = (o, k) => (o && typeof o[k] === 'number' ? o[k] : null);
    const out = all.find((s) => s.type === 'outbound-rtp' && isAudio(s));
    const inb = all.find((s) => s.type === 'inbound-rtp' && isAudio(s));
    const remoteIn = all.find((s) => s.type === 'remote-inbound-rtp' && isAudio(s));
    const transport = all.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
    const pair = (transport && byId(transport.selectedCandidatePairId)) ||
      all.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
    const codec = byId((out && out.codecId) || (inb && inb.codecId));
    const rttSeconds = num(remoteIn, 'roundTripTime') !== null ? remoteIn.roundTripTime : num(pair, 'currentRoundTripTime');
    const jitter = num(inb, 'jitter');
    return {
      codec: codec ? codecName(codec) : null,
      packetsSent: num(out, 'packetsSent'),
      bytesSent: num(out, 'bytesSent'),
      packetsReceived: num(inb, 'packetsReceived'),
      bytesReceived: num(inb, 'bytesReceived'),
      packetsLost: num(inb, 'packetsLost'),
      remotePacketsLost: num(remoteIn, 'packetsLost'),
      jitter: jitter === null ? null : round1(jitter * 1000),
      rtt: rttSeconds === null ? null : round1(rttSeconds * 1000),
    };
  }

  // ---------------------------------------------------------------- WebRTC helpers

  function describeMediaError(err) {
    switch (err && err.name) {
      case 'NotAllowedError':
      case 'SecurityError':
        return 'Access to the microphone (or camera) was denied';
      case 'NotFoundError':
      case 'OverconstrainedError':
        return 'No microphone (or camera) was found';
      case 'NotReadableError':
        return 'The microphone (or camera) is in use or cannot be opened';
      default:
        return `Cannot open the microphone (or camera): ${(err && (err.message || err.name)) || err}`;
    }
  }

  function stopStream(stream) {
    if (stream) for (const t of stream.getTracks()) t.stop();
  }

  // waitForIceGathering resolves when gathering completes, after timeoutMs
  // (then the offer goes with the candidates found so far), or on abort.
  function waitForIceGathering(pc, timeoutMs, signal) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete' || signal.aborted) {
        resolve();
        return;
      }
      let timer = null;
      const finish = () => {
        clearTimeout(timer);
        pc.removeEventListener('icegatheringstatechange', onState);
        pc.removeEventListener('icecandidate', onCandidate);
        signal.removeEventListener('abort', finish);
        resolve();
      };
      const onState = () => {
        if (pc.iceGatheringState === 'complete') finish();
      };
      const onCandidate = (e) => {
        if (!e.candidate) finish();
      };
      pc.addEventListener('icegatheringstatechange', onState);
      pc.addEventListener('icecandidate', onCandidate);
      signal.addEventListener('abort', finish);
      timer = setTimeout(() => {
        log.debug(`ICE gathering not complete after ${timeoutMs} ms: sending the candidates found so far`);
        finish();
      }, timeoutMs);
    });
  }

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }

  // ---------------------------------------------------------------- Client

  /**
   * Client is one browser's connection to the gateway: sign-in, the hanging
   * GET that delivers the gateway's messages, and sending messages. It handles
   * one call at a time, through its current MediaSession.
   */
  class Client {
    constructor(config) {
      this.configuration = validateConfig(config);
      if (!this.configuration.dtls_srtp) {
        log.warn('dtls_srtp=false is ignored: browsers always use DTLS-SRTP');
      }
      this.ssid = null; // session id from /sign_in, while signed in
      this.dn = null; // the registered DN; null when connected anonymously
      this.publicId = null; // the id signed in with: the DN or the anon… id
      this.mediaSession = null; // the current MediaSession
      this._iceServers = buildIceServers(this.configuration);
      this._incoming = null; // {peer, offer, event} of a call not yet accepted
      this._signIn = null; // AbortController of a sign-in in progress
      this._poll = null; // AbortController of the polling loop

      this.onConnect = new Callbacks();
      this.onRegister = new Callbacks();
      this.onFailed = new Callbacks();
      this.onDisconnect = new Callbacks();
      this.onIncomingCall = new Callbacks();
      this.onPeerClosing = new Callbacks();
      this.onPeerNoanswer = new Callbacks();
      this.onHold = new Callbacks();
      this.onInfoFromPeer = new Callbacks();
      this.onStatsFromServer = new Callbacks();
      this.onGatewayError = new Callbacks();
      this.onWebrtcError = new Callbacks();
    }

    /** connected is true while signed in to the gateway. */
    get connected() {
      return this.ssid !== null;
    }

    /** incomingCall is {peer, event} of a call waiting for acceptCall/rejectCall, or null. */
    get incomingCall() {
      return this._incoming ? { peer: this._incoming.peer, event: this._incoming.event } : null;
    }

    /** connect signs in anonymously (GET /sign_in?anon…); resolves with the session id. */
    connect() {
      return handled(this._doSignIn(anonymousId(), null, false));
    }

    /**
     * register signs in as a DN (default: sip_username) and registers it with
     * the SIP Server: with a password (default: sip_password) by
     * POST /sign_in "dn:password", else by GET /sign_in?dn. Resolves with the
     * session id.
     */
    register(dn, password) {
      return handled(Promise.resolve().then(() => {
        const id = checkDn(dn !== undefined && dn !== null && dn !== '' ? dn : this.configuration.sip_username);
        const pw = password !== undefined && password !== null ? String(password) : this.configuration.sip_password;
        return this._doSignIn(id, pw || null, true);
      }));
    }

    async _doSignIn(id, password, isRegister) {
      if (this._signIn) throw new ClientError(ErrorCode.INVALID_STATE, 'a sign-in is already in progress');
      if (this.ssid) this.disconnect();
      const ctrl = new AbortController();
      this._signIn = ctrl;
      let res;
      let text;
      try {
        res = password === null
          ? await this._fetch('GET', '/sign_in?' + encodeURIComponent(id), undefined, { signal: ctrl.signal })
          : await this._fetch('POST', '/sign_in', id + ':' + password, { signal: ctrl.signal });
        text = await res.text();
      } catch (err) {
        if (this._signIn !== ctrl) throw cancelled('the sign-in was cancelled');
        this._signIn = null;
        log.warn('sign-in failed:', err && err.message);
        return this._signInFailed(0, '', null);
      }
      if (this._signIn !== ctrl) {
        // disconnect() was called meanwhile: do not leave a session behind.
        if (res.status === 200) this._signOut(text);
        throw cancelled('the sign-in was cancelled');
      }
      this._signIn = null;
      if (res.status !== 200) {
        return this._signInFailed(res.status, firstLine(text), parseRetryAfter(res.headers.get('Retry-After')));
      }
      let ssid;
      try {
        ssid = parseSignInResponse(text);
      } catch (err) {
        return this._signInFailed(res.status, err.message, null);
      }
      this.ssid = ssid;
      this.publicId = id;
      this.dn = isRegister ? id : null;
      log.info(isRegister ? `registered as ${id}` : 'connected anonymously');
      this._startPolling();
      const info = {
        message: isRegister ? `Registered as ${id}` : 'Connected to the WebRTC Gateway',
        id: ssid,
        dn: this.dn,
      };
      (isRegister ? this.onRegister : this.onConnect).fire(info);
      return ssid;
    }

    _signOut(signInText) {
      let ssid;
      try {
        ssid = parseSignInResponse(signInText);
      } catch (err) {
        return;
      }
      this._fetch('GET', '/sign_out?id=' + ssid, undefined, { keepalive: true }).catch(() => {});
    }

    _signInFailed(status, serverMessage, retryAfter) {
      const message = describeSignInFailure(status, serverMessage, retryAfter);
      log.warn(`sign-in failed (HTTP ${status})`);
      this.onFailed.fire({ message, status, serverMessage, retryAfter });
      throw new ClientError(ErrorCode.CONNECTION, message, { status, serverMessage, retryAfter });
    }

    /**
     * disconnect hangs up the call (BYE), stops polling and signs out
     * (GET /sign_out). The client state changes at once; the returned promise
     * settles when the requests are sent.
     */
    disconnect() {
      if (this._signIn) {
        const ctrl = this._signIn;
        this._signIn = null;
        ctrl.abort();
      }
      const ssid = this.ssid;
      if (!ssid) return Promise.resolve();
      const session = this.mediaSession;
      const bye = session ? session._hangup('disconnected', true) : null;
      this._stopPolling();
      this.ssid = null;
      this.dn = null;
      this._incoming = null;
      log.info('disconnected');
      this.onDisconnect.fire({ message: 'Disconnected from the WebRTC Gateway' });
      const signOut = this._fetch('GET', '/sign_out?id=' + ssid, undefined, { keepalive: true })
        .then((res) => res.text(), (err) => log.warn('sign-out failed:', err && err.message));
      return Promise.all([bye, signOut]).then(() => undefined);
    }

    // _fetch sends one request to the gateway. Credentials ride along for the
    // gateway's (load-balancer) cookie; a body is sent as raw text under a
    // CORS-safelisted content type, so no request needs a preflight.
    _fetch(method, path, body, opts) {
      const init = {
        method,
        credentials: 'include',
        cache: 'no-store',
        signal: opts && opts.signal,
        keepalive: !!(opts && opts.keepalive),
      };
      if (body !== undefined) {
        init.body = body;
        init.headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
      }
      return root.fetch(this.configuration.webrtc_gateway + path, init);
    }

    /**
     * _send posts one message to the gateway for peer `to`. The gateway
     * answers 200 to every message it reads, and refuses one it cannot act
     * on with an ERROR on /wait. A 2xx other than 200 (204) means the session
     * is over: the client is signed out. Any other status (a malformed
     * request, a proxy in the way) fires onGatewayError and rejects.
     */
    async _send(to, body, kind, keepalive) {
      const ssid = this.ssid;
      if (!ssid) throw new ClientError(ErrorCode.INVALID_STATE, 'not connected to the gateway');
      log.debug(`sending ${kind} to ${to}`);
      const path = `/message?from=${ssid}&to=${encodeURIComponent(to)}`;
      let res;
      let text;
      try {
        res = await this._fetch('POST', path, body, { keepalive });
        text = await res.text();
      } catch (err) {
        const message = `Gateway unreachable: the ${kind} message was not sent`;
        if (this.ssid === ssid) this.onGatewayError.fire({ error: 'NETWORK_ERROR', status: 0, message, request: kind });
        throw new ClientError(ErrorCode.CONNECTION, message, { status: 0 });
      }
      if (res.status === 200) return;
      const serverMessage = firstLine(text);
      if (sessionOver(res.status)) {
        if (this.ssid === ssid) this._lost(res.status, serverMessage);
        throw new ClientError(ErrorCode.CONNECTION, `The gateway ended the session: the ${kind} message was not sent`, { status: res.status });
      }
      const message = `The gateway refused the ${kind} message (HTTP ${res.status})${serverMessage ? ': ' + serverMessage : ''}`;
      if (this.ssid === ssid) {
        this.onGatewayError.fire({ error: 'MESSAGE_REJECTED', status: res.status, message, serverMessage, request: kind });
      }
      throw new ClientError(ErrorCode.CONNECTION, message, { status: res.status, serverMessage });
    }

    _startPolling() {
      this._stopPolling();
      const ctrl = new AbortController();
      this._poll = ctrl;
      this._pollLoop(ctrl.signal);
    }

    _stopPolling() {
      if (this._poll) {
        this._poll.abort();
        this._poll = null;
      }
    }

    // _pollLoop keeps exactly one /wait outstanding until `stop` aborts.
    async _pollLoop(stop) {
      const timeout = this.configuration.polling_timeout;
      while (!stop.aborted) {
        const req = new AbortController();
        const abortReq = () => req.abort();
        stop.addEventListener('abort', abortReq);
        const timer = timeout > 0 ? setTimeout(abortReq, timeout) : null;
        let res = null;
        let body = '';
        let failure = null;
        try {
          res = await this._fetch('GET', '/wait?id=' + this.ssid, undefined, { signal: req.signal });
          body = await res.text();
        } catch (err) {
          failure = err;
        } finally {
          clearTimeout(timer);
          stop.removeEventListener('abort', abortReq);
        }
        if (stop.aborted) return;
        if (failure && req.signal.aborted) continue; // our polling_timeout: re-poll at once
        if (!failure && sessionOver(res.status)) {
          this._lost(res.status, firstLine(body));
          return;
        }
        if (failure || res.status !== 200) {
          // A network error, or an error status (a proxy in the way, a
          // gateway restarting): the session may well be alive; try again.
          const why = failure ? failure.message : `HTTP ${res.status}`;
          log.warn(`hanging GET failed (${why}): retrying in ${Client.pollRetryDelay} ms`);
          await sleep(Client.pollRetryDelay, stop);
          continue;
        }
        if (body !== '') this._dispatch(body, res.headers.get('Pragma') || '');
      }
    }

    // _lost handles the gateway forgetting this client (a /wait or /message
    // answered "gone"): the call ends without a BYE, and the client is signed out.
    _lost(status, serverMessage) {
      if (!this.ssid) return;
      log.warn(`the gateway ended the session (HTTP ${status})`);
      this._stopPolling();
      const session = this.mediaSession;
      const peer = session && session.peer;
      const hadCall = !!session && session._teardown('disconnected');
      this.ssid = null;
      this.dn = null;
      this._incoming = null;
      if (hadCall) this.onPeerClosing.fire({ peer, reason: 'disconnected' });
      this.onDisconnect.fire({
        message: 'The gateway ended the session' + (serverMessage ? ': ' + serverMessage : ''),
        status,
        serverMessage,
      });
    }

    // _dispatch acts on one message from /wait; `pragma` is the other party's id.
    _dispatch(body, pragma) {
      const session = this.mediaSession;
      const call = session && session.state !== 'idle' ? session : null;
      const m = parseWaitMessage(body, !!call);
      log.debug(`received ${m.type}${m.message ? ' ' + m.message.messageType : ''} from ${pragma || '(no Pragma)'}`);
      switch (m.type) {
        case 'bye':
          this._onBye(call, pragma);
          return;
        case 'invite':
          this._onIncoming(call, pragma, null);
          return;
        case 'offer':
          this._onIncoming(call, pragma, m.message);
          return;
        case 'event-talk':
          if (this._incoming) this._autoAnswer();
          else if (call) call._remoteTalk();
          return;
        case 'event-hold':
          if (call) call._remoteHold();
          return;
        case 'info-peer':
          this.onInfoFromPeer.fire(m.data);
          return;
        case 'put-stats':
          this.onStatsFromServer.fire(m.stats);
          return;
        case 'error':
          this._onError(call, m.error);
          return;
        case 'roap':
          if (m.message.messageType === 'ANSWER') {
            call._remoteAnswer(m.message, pragma).catch((err) => log.error('applying an ANSWER:', err));
          }
          else if (m.message.messageType === 'ERROR') this._onError(call, m.message);
          else if (m.message.messageType !== 'OK') log.warn(`ignoring ROAP ${m.message.messageType}`);
          return;
        case 'malformed':
          log.warn(`ignoring a malformed ${m.of} message: ${m.reason}`);
          return;
        default:
          log.warn('ignoring an unexpected message:', body.slice(0, 20));
      }
    }

    _onBye(call, pragma) {
      const incoming = this._incoming;
      if (incoming && (!call || pragma === incoming.peer)) {
        this._incoming = null;
        this.onPeerClosing.fire({ peer: incoming.peer });
      } else if (call && call._gatewayKnows()) {
        // Also when our OFFER is still unanswered: the far end refused the call.
        const peer = call.peer;
        call._teardown('remote');
        this.onPeerClosing.fire({ peer });
      } else {
        log.debug('BYE without a call: ignored');
      }
    }

    _onIncoming(call, pragma, offer) {
      if (call) {
        if (pragma && pragma !== call._remoteId()) {
          this._rejectBusy(pragma);
        } else if (offer) {
          call._remoteOffer(offer);
        } else {
          call._remoteInvite();
        }
        return;
      }
      if (!pragma) {
        log.warn('incoming call without a caller id (Pragma): ignored');
        return;
      }
      const pending = this._incoming;
      if (pending) {
        if (pending.peer !== pragma) this._rejectBusy(pragma);
        else if (offer) pending.offer = offer;
        return;
      }
      const event = offer ? 'offer' : 'invite';
      this._incoming = { peer: pragma, offer, event };
      log.info(`incoming call from ${pragma}`);
      this.onIncomingCall.fire({ peer: pragma, event });
    }

    // One call at a time: a second caller gets BYE (the gateway answers 486 Busy Here).
    _rejectBusy(peer) {
      log.info(`busy: rejecting a call from ${peer}`);
      this._send(peer, 'BYE', 'BYE').catch(() => {});
    }

    // EVENT-TALK on a call not yet accepted: answer it now.
    _autoAnswer() {
      let session = this.mediaSession;
      if (!session || session.state !== 'idle') session = new MediaSession(this);
      session.acceptCall().catch((err) => log.warn('auto-answer failed:', err.message));
    }

    _onError(call, err) {
      const info = {
        error: String(err.errorType || err.messageType || 'ERROR'),
        status: err.status,
        reason: err.reason,
        message: err.message || err.reason || String(err.errorType || 'gateway error'),
        data: err,
      };
      log.warn(`gateway error ${info.error}${info.status ? ' ' + info.status : ''}`);
      this.onGatewayError.fire(info);
      if (info.error !== 'CALL_FAILED') return;
      if (call && call._gatewayKnows()) {
        call._callFailed(info);
      } else if (this._incoming) {
        const peer = this._incoming.peer;
        this._incoming = null;
        this.onPeerClosing.fire({ peer, status: info.status, reason: info.reason });
      }
    }
  }

  /** Delay before re-polling after a network error on /wait (ms). */
  Client.pollRetryDelay = 3000;

  // ---------------------------------------------------------------- MediaSession

  /**
   * MediaSession is one call (one at a time per Client; reusable after it
   * ends): its RTCPeerConnection, local and remote media, ROAP negotiation,
   * hold, DTMF and INFO. Constructing it makes it the client's current session.
   *
   * state: idle → offering (media, ICE) → offer-sent → established, or
   * idle → answering → established; back to idle when the call ends.
   */
  class MediaSession {
    constructor(client) {
      if (!(client instanceof Client)) {
        throw new ClientError(ErrorCode.INVALID_ARGUMENT, 'new MediaSession(client) needs a WebRTCGateway.Client');
      }
      const current = client.mediaSession;
      if (current && current !== this && current.state !== 'idle') {
        throw new ClientError(ErrorCode.INVALID_STATE, 'another call is in progress');
      }
      this.client = client;
      this.state = 'idle';
      this.peer = null; // the DN/number the call is with (the `to` of our messages)
      this.sessionId = null; // our ROAP session id for this call
      this.remoteSessionId = null; // the gateway's ROAP session id
      this.peerConnection = null;
      this.localStream = null;
      this.remoteStream = null;
      this.held = false; // our media is on hold (inactive)
      this.holdInitiator = null; // 'local' (holdCall) or 'remote' (EVENT-HOLD) while held
      this.remoteHeld = false; // the far end has put us on hold
      this._call = null; // bookkeeping of the current call
      this._dataToAttach = null;
      this._dataAttached = null;

      this.onRemoteStream = new Callbacks();
      this.onLocalStream = new Callbacks();
      this.onSessionHold = new Callbacks();
      this.onStateChange = new Callbacks();
      this.onSessionClose = new Callbacks();

      client.mediaSession = this;
    }

    _setState(state) {
      const previous = this.state;
      if (previous === state) return;
      this.state = state;
      this.onStateChange.fire({ state, previous });
    }

    // _begin starts the bookkeeping of a new call. Every asynchronous step
    // checks call.signal afterwards, so a call closed meanwhile (hang-up, BYE,
    // disconnect) stops where it is and sends nothing more.
    _begin(peer, state) {
      const abort = new AbortController();
      const call = {
        abort,
        signal: abort.signal,
        queue: Promise.resolve(), // negotiations run one after the other
        queued: 0,
        pendingOffer: null, // {resolve, reject, timer} while our OFFER awaits its ANSWER
        seq: 0,
        known: false, // the gateway knows the call: closing it needs a BYE
        established: false,
        lastAnswerSdp: null,
        answeredSeq: null, // seq of the last ANSWER applied
        remoteId: null, // the Pragma the gateway uses for this call
      };
      this._call = call;
      this.peer = peer;
      this.sessionId = allocateSessionId();
      this.remoteSessionId = null;
      this._dataAttached = null;
      this._setState(state);
      return call;
    }

    _gatewayKnows() {
      return !!this._call && this._call.known;
    }

    _remoteId() {
      return (this._call && this._call.remoteId) || this.peer;
    }

    // _enqueue runs op(call) after the call's earlier negotiations.
    _enqueue(call, op) {
      call.queued++;
      const run = async () => {
        try {
          if (call.signal.aborted) throw cancelled();
          return await op(call);
        } finally {
          call.queued--;
        }
      };
      const p = call.queue.then(run, run);
      call.queue = p.catch(() => {});
      return p;
    }

    // _setup runs the steps that set a call up; the returned promise settles
    // once the first message is sent (steps call sent()) or setup fails, and
    // the queue stays busy until the call is answered.
    _setup(call, steps) {
      let sent;
      const whenSent = new Promise((resolve) => { sent = resolve; });
      const done = this._enqueue(call, async () => {
        try {
          await steps(sent);
        } catch (err) {
          this._failed(call, err);
          throw err;
        }
      });
      return handled(Promise.race([whenSent, handled(done)]));
    }

    // ------------------------------------------------------------ public API

    /**
     * makeOffer calls `to` (a DN or number): local media (audio true, video
     * false by default), an OFFER with all ICE candidates, then the gateway's
     * ANSWER on /wait. Resolves once the OFFER is sent.
     */
    makeOffer(to, audio, video) {
      return handled(Promise.resolve().then(() => {
        const client = this.client;
        if (!client.ssid) throw new ClientError(ErrorCode.INVALID_STATE, 'not connected to the gateway');
        if (client.mediaSession !== this) throw new ClientError(ErrorCode.INVALID_STATE, 'this MediaSession is no longer the client\'s current one');
        if (this.state !== 'idle') throw new ClientError(ErrorCode.INVALID_STATE, `cannot make a call in state ${this.state}`);
        if (client._incoming) throw new ClientError(ErrorCode.INVALID_STATE, 'a call is waiting: accept or reject it first');
        const dest = checkDestination(to, 'the destination');
        const media = mediaWanted(audio, video);
        const call = this._begin(dest, 'offering');
        return this._setup(call, async (sent) => {
          await this._openLocalMedia(call, media);
          this._attachLocalTracks();
          const [answered] = await this._sendOffer(call);
          sent();
          await answered;
        });
      }));
    }

    /**
     * acceptCall answers the waiting incoming call: with an ANSWER to its OFFER,
     * or, for an INVITE without SDP, with an OFFER of our own.
     */
    acceptCall(audio, video) {
      return handled(Promise.resolve().then(() => {
        const client = this.client;
        const incoming = client._incoming;
        if (!incoming) throw new ClientError(ErrorCode.INVALID_STATE, 'there is no incoming call to accept');
        if (client.mediaSession !== this) throw new ClientError(ErrorCode.INVALID_STATE, 'this MediaSession is no longer the client\'s current one');
        if (this.state !== 'idle') throw new ClientError(ErrorCode.INVALID_STATE, `cannot accept a call in state ${this.state}`);
        const media = mediaWanted(audio, video);
        client._incoming = null;
        const call = this._begin(incoming.peer, incoming.offer ? 'answering' : 'offering');
        call.known = true;
        call.remoteId = incoming.peer;
        return this._setup(call, async (sent) => {
          await this._openLocalMedia(call, media);
          if (incoming.offer) {
            await this._answerOffer(call, incoming.offer, true);
            sent();
          } else {
            this._attachLocalTracks();
            const [answered] = await this._sendOffer(call);
            sent();
            await answered;
          }
        });
      }));
    }

    /** rejectCall refuses the waiting incoming call (BYE; the gateway answers 486 Busy Here). */
    rejectCall() {
      const incoming = this.client._incoming;
      if (!incoming) {
        return handled(Promise.reject(new ClientError(ErrorCode.INVALID_STATE, 'there is no incoming call to reject')));
      }
      this.client._incoming = null;
      log.info(`rejecting the call from ${incoming.peer}`);
      return handled(this.client._send(incoming.peer, 'BYE', 'BYE'));
    }

    /**
     * closeSession hangs up: sends BYE (unless sendBye is false, or the gateway
     * never heard of the call), closes the RTCPeerConnection, stops local media.
     */
    closeSession(sendBye) {
      if (this.state === 'idle') return;
      this._hangup('local', sendBye !== false);
    }

    /** holdCall puts the call on hold: a new OFFER with every m-line a=inactive. */
    holdCall() {
      return handled(this._userReoffer(true));
    }

    /** resumeCall takes the call off hold: a new OFFER with the media sendrecv again. */
    resumeCall() {
      return handled(this._userReoffer(false));
    }

    /** updateCall mutes (false) or unmutes (true) the local audio/video tracks; other values leave them. */
    updateCall(audio, video) {
      if (!this.localStream) throw new ClientError(ErrorCode.INVALID_STATE, 'there is no local media to update');
      if (typeof audio === 'boolean') for (const t of this.localStream.getAudioTracks()) t.enabled = audio;
      if (typeof video === 'boolean') for (const t of this.localStream.getVideoTracks()) t.enabled = video;
    }

    /** audioMuted is true when every local audio track is disabled by updateCall. */
    get audioMuted() {
      const tracks = this.localStream ? this.localStream.getAudioTracks() : [];
      return tracks.length > 0 && tracks.every((t) => !t.enabled);
    }

    /**
     * sendDTMF plays tones (0-9, A-D, *, #, "," = 2 s pause) in-band as RFC 4733
     * telephone-events; duration and gap are in ms (default 100 and 70).
     * Tones still playing are kept: new ones are appended.
     */
    sendDTMF(tones, duration, gap) {
      if (typeof tones !== 'string' || !/^[0-9A-Da-d#*,]+$/.test(tones)) {
        throw new ClientError(ErrorCode.INVALID_ARGUMENT, 'DTMF tones must be made of 0-9, A-D, *, # and ,');
      }
      if (this.state !== 'established') throw new ClientError(ErrorCode.INVALID_STATE, 'DTMF needs an established call');
      const sender = this.peerConnection.getSenders().find((s) => s.track && s.track.kind === 'audio');
      const dtmf = sender && sender.dtmf;
      if (!dtmf) throw new ClientError(ErrorCode.WEBRTC, 'DTMF is not available on this call');
      if (dtmf.canInsertDTMF === false) {
        throw new ClientError(ErrorCode.INVALID_STATE, 'DTMF cannot be sent now (call on hold, or no telephone-event)');
      }
      dtmf.insertDTMF((dtmf.toneBuffer || '') + tones, duration || 100, gap || 70);
      log.debug(`DTMF queued: ${tones.length} tone(s)`);
    }

    /**
     * sendInfo sends data (an object or [{key, value}]) urlencoded in a SIP
     * INFO: "INFO-MAP" (mapped by the SIP Server into its events) unless
     * mapData is false, then "INFO-PEER" (passed to the far end).
     */
    sendInfo(data, mapData) {
      return handled(Promise.resolve().then(() => {
        const text = encodeInfo(data);
        this._requireEstablished('send INFO');
        const kind = mapData === false ? 'INFO-PEER' : 'INFO-MAP';
        return this.client._send(this.peer, `${kind} ${text}`, kind);
      }));
    }

    /** getServerStats asks the gateway for its view of the call; the answer fires client.onStatsFromServer. */
    getServerStats() {
      return handled(Promise.resolve().then(() => {
        this._requireEstablished('ask for server statistics');
        return this.client._send(this.peer, 'GET-STATS', 'GET-STATS');
      }));
    }

    /** getCallStats resolves with summarizeStats() of the RTCPeerConnection's statistics. */
    getCallStats() {
      return handled(Promise.resolve().then(async () => {
        if (!this.peerConnection) throw new ClientError(ErrorCode.INVALID_STATE, 'there is no call');
        return summarizeStats(await this.peerConnection.getStats());
      }));
    }

    /** setData sets the data ({key: value} or [{key, value}]) attached to the next OFFER. */
    setData(data) {
      this._dataToAttach = normalizeAttachedData(data);
    }

    /** getData returns the attacheddata received from the gateway on this call, or null. */
    getData() {
      return this._dataAttached;
    }

    // ------------------------------------------------------------ internals

    _requireEstablished(what) {
      if (this.state !== 'established') throw new ClientError(ErrorCode.INVALID_STATE, `cannot ${what}: the call is not established`);
    }

    async _openLocalMedia(call, media) {
      const md = root.navigator && root.navigator.mediaDevices;
      if (!md || typeof md.getUserMedia !== 'function') {
        throw new ClientError(ErrorCode.WEBRTC, 'getUserMedia is not available (the page must be served over https or from localhost)');
      }
      let stream;
      try {
        stream = await md.getUserMedia(media);
      } catch (err) {
        throw new ClientError(ErrorCode.WEBRTC, describeMediaError(err), { cause: err });
      }
      if (call.signal.aborted) {
        stopStream(stream);
        throw cancelled();
      }
      this.localStream = stream;
      this._createPeerConnection(call);
      this.onLocalStream.fire({ stream });
    }

    _createPeerConnection(call) {
      let pc;
      try {
        pc = new root.RTCPeerConnection({ iceServers: this.client._iceServers });
      } catch (err) {
        throw new ClientError(ErrorCode.WEBRTC, `WebRTC is not available: ${err.message}`);
      }
      pc.addEventListener('track', (e) => this._onTrack(e));
      pc.addEventListener('iceconnectionstatechange', () => {
        if (pc.iceConnectionState === 'failed' && !call.signal.aborted) {
          log.warn('ICE failed: no media path to the gateway');
          this.client.onWebrtcError.fire({ error: 'ICE_FAILED', message: 'The media connection to the gateway failed' });
        }
      });
      this.peerConnection = pc;
    }

    _attachLocalTracks() {
      for (const track of this.localStream.getTracks()) this.peerConnection.addTrack(track, this.localStream);
    }

    _onTrack(e) {
      const stream = (e.streams && e.streams[0]) || this.remoteStream || new root.MediaStream();
      if (!stream.getTracks().includes(e.track)) stream.addTrack(e.track);
      if (stream !== this.remoteStream) {
        this.remoteStream = stream;
        this.onRemoteStream.fire({ stream });
      }
    }

    // _applyDirections sets every transceiver to what the hold state asks:
    // inactive on hold, else sendrecv where we send a track (inactive where
    // we do not, e.g. video offered to an audio-only call).
    _applyDirections() {
      for (const t of this.peerConnection.getTransceivers()) {
        if (t.currentDirection === 'stopped' || t.direction === 'stopped') continue;
        const want = this.held ? 'inactive' : t.sender && t.sender.track ? 'sendrecv' : 'inactive';
        if (t.direction !== want) t.direction = want;
      }
    }

    async _localSdp(call) {
      const pc = this.peerConnection;
      await waitForIceGathering(pc, this.client.configuration.ice_timeout, call.signal);
      if (call.signal.aborted) throw cancelled();
      return pc.localDescription.sdp;
    }

    // _sendOffer creates, gathers and sends an OFFER; it resolves (once sent)
    // with a promise of the matching ANSWER being applied, wrapped in an array
    // so that awaiting _sendOffer does not wait for the answer too.
    async _sendOffer(call) {
      const pc = this.peerConnection;
      this._applyDirections();
      const offer = await pc.createOffer();
      if (call.signal.aborted) throw cancelled();
      await pc.setLocalDescription(offer);
      if (call.signal.aborted) throw cancelled();
      let sdp = await this._localSdp(call);
      // The gateway must read "inactive" on hold whatever the browser wrote.
      if (this.held) sdp = setDirection(sdp, 'inactive');
      const attacheddata = this._dataToAttach;
      this._dataToAttach = null;
      const msg = buildRoapMessage({
        type: 'OFFER',
        sdp,
        offererSessionId: this.sessionId,
        answererSessionId: this.remoteSessionId,
        seq: ++call.seq,
        attacheddata,
      });
      const answered = new Promise((resolve, reject) => {
        const timer = setTimeout(() => this._noAnswer(call), this.client.configuration.noanswer_timeout);
        call.pendingOffer = { resolve, reject, timer };
      });
      handled(answered);
      // Before the POST: the ANSWER may come back on /wait before its response.
      call.known = true;
      if (!call.established) this._setState('offer-sent');
      try {
        await this.client._send(this.peer, formatRoap(msg), 'OFFER');
      } catch (err) {
        this._clearPendingOffer(call, err);
        throw err;
      }
      return [answered];
    }

    _clearPendingOffer(call, err) {
      const p = call.pendingOffer;
      if (!p) return;
      call.pendingOffer = null;
      clearTimeout(p.timer);
      p.reject(err);
    }

    _noAnswer(call) {
      if (call !== this._call || !call.pendingOffer) return;
      const peer = this.peer;
      log.warn(`no answer from ${peer} within ${this.client.configuration.noanswer_timeout} ms`);
      this._clearPendingOffer(call, new ClientError(ErrorCode.NO_ANSWER, `no answer from ${peer}`));
      if (!call.established) this._hangup('noanswer', true);
      this.client.onPeerNoanswer.fire({ peer, reoffer: call.established });
    }

    // _remoteAnswer applies an ANSWER from the gateway.
    async _remoteAnswer(msg, pragma) {
      const call = this._call;
      if (msg.offererSessionId !== undefined && msg.offererSessionId !== this.sessionId) {
        log.warn(`ignoring an ANSWER for session ${msg.offererSessionId}`);
        return;
      }
      if (typeof msg.sdp !== 'string') {
        log.warn('ignoring an ANSWER without SDP');
        return;
      }
      if (pragma && !call.remoteId) call.remoteId = pragma;
      const p = call.pendingOffer;
      if (!p) {
        // A further ANSWER to an answered OFFER: early media first, then the
        // final answer. Same SDP: nothing to do; a different one is applied.
        // An ANSWER with another seq is a late one to a re-offer given up on.
        const stale = Number.isInteger(msg.seq) && Number.isInteger(call.answeredSeq) && msg.seq !== call.answeredSeq;
        if (call.established && !stale && msg.sdp !== call.lastAnswerSdp) {
          this._enqueue(call, () => this._applyUpdatedAnswer(call, msg))
            .catch((err) => this._renegotiationFailed(call, err));
        }
        return;
      }
      call.pendingOffer = null;
      clearTimeout(p.timer);
      try {
        await this.peerConnection.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
        if (call.signal.aborted) throw cancelled();
        await this._addRemoteCandidates(msg);
      } catch (err) {
        const e = call.signal.aborted ? cancelled() : new ClientError(ErrorCode.WEBRTC, `the gateway's answer could not be applied: ${err.message}`);
        p.reject(e);
        return;
      }
      call.lastAnswerSdp = msg.sdp;
      call.answeredSeq = msg.seq;
      if (msg.answererSessionId !== undefined) this.remoteSessionId = msg.answererSessionId;
      if (msg.attacheddata) this._dataAttached = msg.attacheddata;
      this._sendOk(msg);
      call.established = true;
      this._setState('established');
      p.resolve();
    }

    async _applyUpdatedAnswer(call, msg) {
      if (msg.sdp === call.lastAnswerSdp) return;
      const pc = this.peerConnection;
      // The browser applies an answer only to a pending offer of its own:
      // make one (never sent, same media), then apply the new answer to it.
      await pc.setLocalDescription(await pc.createOffer());
      if (call.signal.aborted) throw cancelled();
      try {
        await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
      } catch (err) {
        if (pc.signalingState === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' });
        throw err;
      }
      await this._addRemoteCandidates(msg);
      call.lastAnswerSdp = msg.sdp;
      log.info('applied an updated ANSWER');
      this._sendOk(msg);
    }

    _sendOk(answer) {
      const ok = buildRoapMessage({
        type: 'OK',
        offererSessionId: this.sessionId,
        answererSessionId: answer.answererSessionId,
        seq: answer.seq,
      });
      this.client._send(this.peer, formatRoap(ok), 'OK').catch(() => {});
    }

    async _addRemoteCandidates(msg) {
      if (!Array.isArray(msg.Candidates) || msg.Candidates.length === 0) return;
      const pc = this.peerConnection;
      const inSdp = new Set(extractCandidates(msg.sdp).map((c) => c.candidate));
      const mids = sdpMids(pc.remoteDescription ? pc.remoteDescription.sdp : msg.sdp);
      for (const c of msg.Candidates) {
        const init = toCandidateInit(c, mids);
        if (!init || inSdp.has(init.candidate)) continue;
        try {
          await pc.addIceCandidate(init);
        } catch (err) {
          log.debug('a remote candidate was not usable:', err.message);
        }
      }
    }

    // _answerOffer applies an OFFER from the gateway and sends our ANSWER:
    // for an incoming call (initial) or mid-call (a re-INVITE from the SIP side).
    async _answerOffer(call, offer, initial) {
      const pc = this.peerConnection;
      const remoteHolds = isHoldDirection(getDirection(offer.sdp));
      if (!initial && !remoteHolds && this.held && this.holdInitiator === 'remote') {
        // As grtc: a hold ordered by EVENT-HOLD ends with an active re-offer.
        this.held = false;
        this.holdInitiator = null;
        this.onSessionHold.fire({ held: false, initiator: 'remote' });
      }
      await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
      if (call.signal.aborted) throw cancelled();
      await this._addRemoteCandidates(offer);
      if (initial) this._attachLocalTracks();
      this._applyDirections();
      const answer = await pc.createAnswer();
      if (call.signal.aborted) throw cancelled();
      await pc.setLocalDescription(answer);
      if (call.signal.aborted) throw cancelled();
      const sdp = await this._localSdp(call);
      if (Number.isInteger(offer.seq) && offer.seq > call.seq) call.seq = offer.seq;
      if (offer.attacheddata) this._dataAttached = offer.attacheddata;
      if (offer.offererSessionId !== undefined) this.remoteSessionId = offer.offererSessionId;
      const msg = buildRoapMessage({
        type: 'ANSWER',
        sdp,
        offererSessionId: offer.offererSessionId,
        answererSessionId: this.sessionId,
        seq: Number.isInteger(offer.seq) ? offer.seq : call.seq,
      });
      await this.client._send(this.peer, formatRoap(msg), 'ANSWER');
      if (call.signal.aborted) throw cancelled();
      call.established = true;
      this._setState('established');
      if (remoteHolds !== this.remoteHeld) {
        this.remoteHeld = remoteHolds;
        this.client.onHold.fire({ held: remoteHolds, peer: this.peer });
      }
    }

    _userReoffer(hold) {
      return Promise.resolve().then(() => {
        const call = this._call;
        if (this.state !== 'established') throw new ClientError(ErrorCode.INVALID_STATE, 'the call is not established');
        if (call.queued > 0) throw new ClientError(ErrorCode.INVALID_STATE, 'a renegotiation is in progress: try again');
        if (this.held === hold) throw new ClientError(ErrorCode.INVALID_STATE, hold ? 'the call is already on hold' : 'the call is not on hold');
        return this._enqueue(call, () => this._reoffer(call, hold, 'local'));
      });
    }

    // _reoffer sends a new OFFER on the established call with the given hold
    // state, and waits for its ANSWER; on failure the previous state is restored.
    async _reoffer(call, hold, initiator) {
      const before = { held: this.held, initiator: this.holdInitiator };
      this.held = hold;
      this.holdInitiator = hold ? initiator : null;
      try {
        const [answered] = await this._sendOffer(call);
        await answered;
      } catch (err) {
        if (!call.signal.aborted) {
          this.held = before.held;
          this.holdInitiator = before.initiator;
          const pc = this.peerConnection;
          if (pc.signalingState === 'have-local-offer') {
            await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
          }
          this._applyDirections();
        }
        throw err;
      }
      if (before.held !== hold) {
        log.info(hold ? 'call on hold' : 'call resumed');
        this.onSessionHold.fire({ held: hold, initiator });
      }
    }

    // Gateway-initiated negotiations queue behind any in progress.

    _remoteOffer(offer) {
      const call = this._call;
      this._enqueue(call, () => this._answerOffer(call, offer, false))
        .catch((err) => this._renegotiationFailed(call, err, true));
    }

    // A mid-call INVITE asks for a new offer, with the current hold state.
    _remoteInvite() {
      const call = this._call;
      this._enqueue(call, () => this._reoffer(call, this.held, this.holdInitiator || 'remote'))
        .catch((err) => this._renegotiationFailed(call, err));
    }

    // EVENT-HOLD: the SIP side put the call on hold; as grtc, hold our media too.
    _remoteHold() {
      const call = this._call;
      if (!call.established) return;
      if (!this.remoteHeld) {
        this.remoteHeld = true;
        this.client.onHold.fire({ held: true, peer: this.peer });
      }
      this._enqueue(call, () => (this.held ? undefined : this._reoffer(call, true, 'remote')))
        .catch((err) => this._renegotiationFailed(call, err));
    }

    // EVENT-TALK on an established call: the SIP side resumed it.
    _remoteTalk() {
      const call = this._call;
      if (!call.established) return;
      if (this.remoteHeld) {
        this.remoteHeld = false;
        this.client.onHold.fire({ held: false, peer: this.peer });
      }
      this._enqueue(call, () => (this.held ? this._reoffer(call, false, 'remote') : undefined))
        .catch((err) => this._renegotiationFailed(call, err));
    }

    // A failed gateway-initiated negotiation is reported; a failed answer to a
    // re-offer leaves the call unusable, so it is hung up.
    _renegotiationFailed(call, err, hangUp) {
      if (err.code === ErrorCode.CANCELLED || call.signal.aborted) return;
      if (err.code === ErrorCode.NO_ANSWER) return; // onPeerNoanswer has fired
      log.warn('renegotiation failed:', err.message);
      this.client.onWebrtcError.fire({ error: 'RENEGOTIATION_FAILED', message: err.message });
      if (hangUp) this._hangup('failed', true, { message: err.message });
    }

    // CALL_FAILED from the gateway: an unanswered call ends; a failed
    // re-offer is rolled back and the call goes on.
    _callFailed(info) {
      const call = this._call;
      if (call.established) {
        this._clearPendingOffer(call, new ClientError(ErrorCode.CONNECTION, `the gateway refused the re-offer: ${info.message}`));
        return;
      }
      const peer = this.peer;
      const message = [info.status, info.reason].filter(Boolean).join(' ') || info.message;
      this._teardown('failed', { status: info.status, message });
      this.client.onPeerClosing.fire({ peer, status: info.status, reason: info.reason });
    }

    // _failed ends a call whose setup failed on our side (media, WebRTC,
    // refused message); a call closed meanwhile is left alone.
    _failed(call, err) {
      if (call.signal.aborted || call !== this._call) return;
      log.warn('call setup failed:', err.message);
      this._hangup('failed', true, { message: err.message });
    }

    // _hangup closes the call and, if the gateway knows it, sends BYE.
    // Returns the BYE request's promise, or null.
    _hangup(reason, sendBye, details) {
      const peer = this.peer;
      const known = this._gatewayKnows();
      if (!this._teardown(reason, details)) return null;
      if (!sendBye || !known || !this.client.ssid) return null;
      return this.client._send(peer, 'BYE', 'BYE', true).catch(() => {});
    }

    // _teardown releases everything of the current call and fires
    // onSessionClose; false if there was no call.
    _teardown(reason, details) {
      const call = this._call;
      if (!call) return false;
      this._call = null;
      call.abort.abort();
      this._clearPendingOffer(call, cancelled());
      stopStream(this.localStream);
      if (this.peerConnection) {
        try {
          this.peerConnection.close();
        } catch (err) {
          log.debug('closing the peer connection:', err.message);
        }
      }
      const info = Object.assign({}, details, { reason, peer: this.peer });
      this.peerConnection = null;
      this.localStream = null;
      this.remoteStream = null;
      this.held = false;
      this.holdInitiator = null;
      this.remoteHeld = false;
      this.peer = null;
      this.sessionId = null;
      this.remoteSessionId = null;
      log.info(`call ended (${reason})`);
      this._setState('idle');
      this.onSessionClose.fire(info);
      return true;
    }
  }

  // mediaWanted turns (audio, video) arguments into getUserMedia constraints:
  // audio by default, video only when asked; a constraints object is passed on.
  function mediaWanted(audio, video) {
    const media = {
      audio: audio === undefined ? true : audio,
      video: video === undefined ? false : video,
    };
    if (!media.audio && !media.video) {
      throw new ClientError(ErrorCode.INVALID_ARGUMENT, 'a call needs audio or video');
    }
    return media;
  }

  return Object.freeze({
    VERSION,
    Client,
    MediaSession,
    Callbacks,
    ClientError,
    ErrorCode,
    setLogger,
    // Pure helpers, exported for tests and for applications that want them.
    validateConfig,
    buildIceServers,
    anonymousId,
    createSessionIdAllocator,
    parseSignInResponse,
    parseRetryAfter,
    describeSignInFailure,
    classifyMessage,
    parseWaitMessage,
    buildRoapMessage,
    formatRoap,
    rewriteProto,
    extractCandidates,
    getDirection,
    setDirection,
    isHoldDirection,
    toCandidateInit,
    encodeInfo,
    decodeInfo,
    normalizeAttachedData,
    summarizeStats,
  });
});
