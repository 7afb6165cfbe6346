/*
 * Demo softphone of the WebRTC Gateway, on the library webrtc-gateway.js.
 * Served at / by the gateway (same origin), under a strict CSP: no inline
 * script or style, so everything is wired here.
 *
 * Stable hooks for end-to-end tests (chromedp):
 *
 *   inputs     #gateway (defaults to this page's origin), #dn, #password, #number
 *   buttons    #register, #unregister, #connect, #call, #answer, #reject,
 *              #hangup, #hold, #resume, #mute (toggle; aria-pressed),
 *              #dtmf-0 … #dtmf-9, #dtmf-star, #dtmf-hash, #backspace,
 *              #server-stats, #clear-log
 *   output     #status (one line), #error (hidden when empty), #incoming and
 *              #incoming-caller, #stats (with #stat-duration, #stat-codec,
 *              #stat-packets-sent, #stat-packets-received, #stat-packets-lost,
 *              #stat-jitter, #stat-rtt; raw numbers also in #stats's
 *              data-packets-sent, data-packets-received, data-packets-lost),
 *              #server-stats-output, #log (one <li> per event, newest last),
 *              <audio id="remote-audio"> plays the remote stream
 *   <body>     data-state = idle | registering | registered | calling | ringing
 *                | incoming | talking | held | failed
 *              data-registered = "true" while signed in (DN or anonymous)
 *              data-identity = the DN, "anonymous", or ""
 *              data-muted = "true" | "false"
 *   window.demo  {client, session, state}: the WebRTCGateway.Client, the
 *              current MediaSession (or null) and the data-state value
 *
 * States: idle (not signed in) → registering → registered; failed when the
 * last sign-in failed or the gateway ended the session. Outgoing: calling
 * (opening the microphone, gathering ICE) → ringing (OFFER sent) → talking.
 * Incoming: incoming (until answered and connected) → talking. held while
 * our side of the call is on hold. A call that fails or ends returns to
 * registered, with the reason in #error and #log.
 */
(function () {
  'use strict';

  const GW = window.WebRTCGateway;
  const $ = (id) => document.getElementById(id);
  const ui = {
    gateway: $('gateway'), dn: $('dn'), password: $('password'), number: $('number'),
    accountForm: $('account-form'), dialForm: $('dial-form'),
    register: $('register'), unregister: $('unregister'), connect: $('connect'),
    call: $('call'), answer: $('answer'), reject: $('reject'), hangup: $('hangup'),
    hold: $('hold'), resume: $('resume'), mute: $('mute'), backspace: $('backspace'),
    serverStats: $('server-stats'), serverStatsOutput: $('server-stats-output'),
    status: $('status'), error: $('error'), incoming: $('incoming'), incomingCaller: $('incoming-caller'),
    stats: $('stats'), log: $('log'), clearLog: $('clear-log'), audio: $('remote-audio'),
  };
  const statCells = {
    duration: $('stat-duration'), codec: $('stat-codec'), packetsSent: $('stat-packets-sent'),
    packetsReceived: $('stat-packets-received'), packetsLost: $('stat-packets-lost'),
    jitter: $('stat-jitter'), rtt: $('stat-rtt'),
  };
  const keypad = Array.from(document.querySelectorAll('.keypad button[data-tone]'));

  let client = null;
  let session = null;
  let signingIn = false;
  let failed = false; // the last sign-in failed or the session was lost
  let direction = null; // 'in' or 'out' for the current call
  let answering = false;
  let renegotiating = false; // hold or resume in progress
  let muted = false;
  let callStart = 0;
  let statsTimer = null;
  const baseTitle = document.title;

  if (!GW) {
    ui.error.textContent = 'The WebRTC Gateway library (/js/webrtc-gateway.js) did not load';
    ui.error.hidden = false;
    return;
  }

  window.demo = {
    get client() { return client; },
    get session() { return session; },
    get state() { return document.body.dataset.state; },
  };

  // ------------------------------------------------------------ messages

  function showError(message) {
    ui.error.textContent = message;
    ui.error.hidden = false;
  }

  function clearError() {
    ui.error.textContent = '';
    ui.error.hidden = true;
  }

  const MAX_LOG = 300;

  function logEvent(text, kind) {
    const li = document.createElement('li');
    li.className = `log-${kind || 'info'}`;
    const time = document.createElement('time');
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString();
    li.append(time, ' ', text);
    ui.log.append(li);
    while (ui.log.children.length > MAX_LOG) ui.log.firstElementChild.remove();
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function errorText(err) {
    return (err && err.message) || String(err);
  }

  // ------------------------------------------------------------ state

  function currentState() {
    if (signingIn) return 'registering';
    if (!client || !client.connected) return failed ? 'failed' : 'idle';
    if (client.incomingCall) return 'incoming';
    if (!session || session.state === 'idle') return 'registered';
    if (session.state === 'established') return session.held ? 'held' : 'talking';
    if (direction === 'in') return 'incoming';
    return session.state === 'offering' ? 'calling' : 'ringing';
  }

  function statusText(state) {
    const peer = (session && session.peer) || (client && client.incomingCall && client.incomingCall.peer) || '';
    switch (state) {
      case 'idle': return 'Not connected';
      case 'registering': return 'Signing in…';
      case 'failed': return 'Not connected (see the error above)';
      case 'registered': return client.dn ? `Registered as ${client.dn}` : 'Connected anonymously';
      case 'calling': return `Calling ${peer}…`;
      case 'ringing': return `Ringing ${peer}…`;
      case 'incoming': return answering ? `Answering ${peer}…` : `Incoming call from ${peer}`;
      case 'talking': return `In call with ${peer}` +
        (session.remoteHeld ? ': the other party has put the call on hold' : '') + (muted ? ' (muted)' : '');
      case 'held': return `Call with ${peer} on hold`;
      default: return state;
    }
  }

  // render derives the whole page from the library's state; every event
  // handler ends by calling it.
  function render() {
    const state = currentState();
    const body = document.body;
    body.dataset.state = state;
    body.dataset.registered = String(!!(client && client.connected));
    body.dataset.identity = client && client.connected ? client.dn || 'anonymous' : '';
    body.dataset.muted = String(muted);
    ui.status.textContent = statusText(state);

    const signedIn = ['registered', 'calling', 'ringing', 'incoming', 'talking', 'held'].includes(state);
    const inCall = state === 'talking' || state === 'held';
    const canSignIn = ['idle', 'failed', 'registered'].includes(state);
    ui.register.disabled = !canSignIn;
    ui.connect.disabled = !canSignIn;
    ui.gateway.disabled = !canSignIn;
    ui.unregister.disabled = !signedIn;
    ui.call.disabled = state !== 'registered';
    ui.answer.disabled = state !== 'incoming' || answering || !client.incomingCall;
    ui.reject.disabled = state !== 'incoming' || answering || !client.incomingCall;
    ui.hangup.disabled = !(['calling', 'ringing', 'talking', 'held'].includes(state) || (state === 'incoming' && answering));
    ui.hold.disabled = state !== 'talking' || renegotiating;
    ui.resume.disabled = state !== 'held' || renegotiating;
    ui.mute.disabled = !inCall;
    ui.mute.textContent = muted ? 'Unmute' : 'Mute';
    ui.mute.setAttribute('aria-pressed', String(muted));
    ui.serverStats.disabled = !inCall;

    const ringing = state === 'incoming' && !!client.incomingCall;
    ui.incoming.hidden = state !== 'incoming';
    ui.incomingCaller.textContent = state === 'incoming' ? (client.incomingCall || session || {}).peer || '' : '';
    document.title = ringing ? `Incoming call from ${client.incomingCall.peer}` : baseTitle;
  }

  // ------------------------------------------------------------ client

  function makeClient() {
    const old = client;
    client = null;
    if (old) old.disconnect();
    const c = new GW.Client({ webrtc_gateway: ui.gateway.value.trim() });
    const mine = (fn) => (...args) => {
      if (c === client) fn(...args);
    };
    c.onConnect.add(mine(() => logEvent('Connected anonymously')));
    c.onRegister.add(mine((e) => logEvent(`Registered as ${e.dn}`)));
    c.onFailed.add(mine((e) => logEvent(`Sign-in failed: ${e.message}`, 'error')));
    c.onDisconnect.add(mine((e) => {
      if (e.status) {
        failed = true;
        showError(`Connection to the gateway lost: ${e.message}`);
        logEvent(`Disconnected by the gateway (HTTP ${e.status})`, 'error');
      } else {
        logEvent('Disconnected');
      }
      render();
    }));
    c.onIncomingCall.add(mine((e) => {
      clearError();
      direction = 'in';
      // Created now so that an auto-answer (EVENT-TALK) uses it, with its events bound.
      useSession(new GW.MediaSession(c));
      logEvent(`Incoming call from ${e.peer}${e.event === 'invite' ? ' (no SDP)' : ''}`, 'call');
      render();
    }));
    c.onPeerClosing.add(mine((e) => {
      // A failed call (e.status) was reported by onGatewayError already.
      if (!e.status) logEvent(e.peer ? `${e.peer} hung up` : 'The other party hung up', 'call');
      if (!session || session.state === 'idle') direction = null;
      render();
    }));
    c.onPeerNoanswer.add(mine((e) => {
      showError(e.reoffer ? 'No answer to the hold/resume request' : `No answer from ${e.peer}`);
      logEvent(e.reoffer ? 'No answer to a renegotiation' : `No answer from ${e.peer}`, 'error');
      render();
    }));
    c.onHold.add(mine((e) => {
      logEvent(e.held ? 'The other party put the call on hold' : 'The other party resumed the call', 'call');
      render();
    }));
    c.onInfoFromPeer.add(mine((data) => logEvent(`INFO from the other party: ${JSON.stringify(data)}`)));
    c.onStatsFromServer.add(mine((stats) => {
      ui.serverStatsOutput.textContent = JSON.stringify(stats, null, 2);
      ui.serverStatsOutput.hidden = false;
      logEvent('Server statistics received');
    }));
    c.onGatewayError.add(mine((e) => {
      const text = e.error === 'CALL_FAILED'
        ? `Call failed: ${[e.status, e.reason].filter(Boolean).join(' ') || 'no reason given'}`
        : `Gateway error: ${e.message}`;
      showError(text);
      logEvent(text, 'error');
      render();
    }));
    c.onWebrtcError.add(mine((e) => {
      showError(e.message);
      logEvent(`WebRTC error: ${e.message}`, 'error');
    }));
    client = c;
    return c;
  }

  async function signIn(asDn) {
    clearError();
    const dn = ui.dn.value.trim();
    if (asDn && !dn) {
      showError('Enter your DN (extension) to register');
      ui.dn.focus();
      return;
    }
    let c;
    try {
      c = makeClient();
    } catch (err) {
      showError(errorText(err));
      ui.gateway.focus();
      render();
      return;
    }
    signingIn = true;
    failed = false;
    render();
    try {
      if (asDn) await c.register(dn, ui.password.value || undefined);
      else await c.connect();
    } catch (err) {
      if (c === client && err.code !== GW.ErrorCode.CANCELLED) {
        failed = true;
        showError(errorText(err));
      }
    } finally {
      if (c === client) signingIn = false;
      render();
    }
  }

  function signOut() {
    clearError();
    failed = false;
    if (client) {
      client.disconnect();
      client = null;
    }
    session = null;
    render();
  }

  // ------------------------------------------------------------ calls

  function useSession(s) {
    session = s;
    s.onLocalStream.add(() => logEvent('Microphone open'));
    s.onRemoteStream.add((e) => {
      if (s !== session) return;
      ui.audio.srcObject = e.stream;
      ui.audio.play().catch(() => {}); // autoplay may wait for a user gesture
    });
    s.onStateChange.add((e) => {
      if (s !== session) return;
      if (e.state === 'offer-sent' && direction === 'out') logEvent(`Ringing ${s.peer}`, 'call');
      if (e.state === 'established') {
        callStart = Date.now();
        logEvent(`Call with ${s.peer} connected`, 'call');
        startStats();
      }
      render();
    });
    s.onSessionHold.add((e) => {
      logEvent(`${e.held ? 'On hold' : 'Resumed'}${e.initiator === 'remote' ? ' (from the SIP side)' : ''}`, 'call');
      render();
    });
    s.onSessionClose.add((e) => {
      if (s !== session) return;
      stopStats();
      ui.audio.srcObject = null;
      muted = false;
      direction = null;
      if (e.reason === 'failed' && e.message && !e.status) showError(`Call failed: ${e.message}`);
      logEvent(`Call ended (${describeEnd(e.reason)})`, e.reason === 'failed' ? 'error' : 'call');
      render();
    });
    return s;
  }

  function describeEnd(reason) {
    return {
      local: 'hung up', remote: 'the other party hung up', noanswer: 'no answer',
      failed: 'failed', disconnected: 'disconnected',
    }[reason] || reason;
  }

  async function call() {
    clearError();
    const number = ui.number.value.trim();
    if (!number) {
      showError('Enter a number to call');
      ui.number.focus();
      return;
    }
    if (currentState() !== 'registered') return;
    let s;
    try {
      s = useSession(new GW.MediaSession(client));
    } catch (err) {
      showError(errorText(err));
      return;
    }
    direction = 'out';
    logEvent(`Calling ${number}`, 'call');
    const made = s.makeOffer(number);
    render();
    try {
      await made;
    } catch (err) {
      if (err.code !== GW.ErrorCode.CANCELLED) showError(errorText(err));
    }
    render();
  }

  async function answer() {
    if (!session || !client || !client.incomingCall || answering) return;
    clearError();
    answering = true;
    render();
    try {
      await session.acceptCall();
    } catch (err) {
      if (err.code !== GW.ErrorCode.CANCELLED) showError(errorText(err));
    } finally {
      answering = false;
      render();
    }
  }

  function reject() {
    if (!session || !client || !client.incomingCall) return;
    const peer = client.incomingCall.peer;
    session.rejectCall().catch((err) => showError(errorText(err)));
    direction = null;
    logEvent(`Rejected the call from ${peer}`, 'call');
    render();
  }

  function hangup() {
    if (session && session.state !== 'idle') session.closeSession();
    render();
  }

  async function holdOrResume(hold) {
    if (!session || renegotiating) return;
    clearError();
    renegotiating = true;
    render();
    try {
      await (hold ? session.holdCall() : session.resumeCall());
    } catch (err) {
      if (err.code !== GW.ErrorCode.CANCELLED) showError(errorText(err));
    } finally {
      renegotiating = false;
      render();
    }
  }

  function toggleMute() {
    if (!session || !session.localStream) return;
    muted = !muted;
    session.updateCall(!muted);
    logEvent(muted ? 'Microphone muted' : 'Microphone unmuted');
    render();
  }

  function press(tone, button) {
    button.classList.add('pressed');
    setTimeout(() => button.classList.remove('pressed'), 150);
    const state = currentState();
    if (state === 'talking') {
      try {
        session.sendDTMF(tone);
        logEvent(`DTMF ${tone}`);
      } catch (err) {
        showError(errorText(err));
      }
    } else if (state !== 'held') {
      ui.number.value += tone;
    }
  }

  function requestServerStats() {
    if (!session) return;
    session.getServerStats()
      .then(() => logEvent('Server statistics requested'))
      .catch((err) => showError(errorText(err)));
  }

  // ------------------------------------------------------------ statistics

  function show(cell, value, unit) {
    cell.textContent = value === null || value === undefined ? '—' : `${value}${unit || ''}`;
  }

  function formatDuration(ms) {
    const s = Math.floor(ms / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }

  async function updateStats() {
    const s = session;
    if (!s || s.state !== 'established') return;
    let st;
    try {
      st = await s.getCallStats();
    } catch (err) {
      return; // the call ended meanwhile
    }
    if (s !== session) return;
    show(statCells.duration, formatDuration(Date.now() - callStart));
    show(statCells.codec, st.codec);
    show(statCells.packetsSent, st.packetsSent);
    show(statCells.packetsReceived, st.packetsReceived);
    show(statCells.packetsLost, st.packetsLost);
    show(statCells.jitter, st.jitter, ' ms');
    show(statCells.rtt, st.rtt, ' ms');
    for (const key of ['packetsSent', 'packetsReceived', 'packetsLost']) {
      if (st[key] === null) delete ui.stats.dataset[key];
      else ui.stats.dataset[key] = String(st[key]);
    }
  }

  function startStats() {
    stopStats();
    for (const cell of Object.values(statCells)) show(cell, null);
    for (const key of ['packetsSent', 'packetsReceived', 'packetsLost']) delete ui.stats.dataset[key];
    ui.serverStatsOutput.hidden = true;
    updateStats();
    statsTimer = setInterval(updateStats, 1000);
  }

  function stopStats() {
    clearInterval(statsTimer);
    statsTimer = null;
  }

  // ------------------------------------------------------------ wiring

  ui.accountForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!ui.register.disabled) signIn(true);
  });
  ui.connect.addEventListener('click', () => signIn(false));
  ui.unregister.addEventListener('click', signOut);
  ui.dialForm.addEventListener('submit', (e) => {
    e.preventDefault();
    call();
  });
  ui.answer.addEventListener('click', answer);
  ui.reject.addEventListener('click', reject);
  ui.hangup.addEventListener('click', hangup);
  ui.hold.addEventListener('click', () => holdOrResume(true));
  ui.resume.addEventListener('click', () => holdOrResume(false));
  ui.mute.addEventListener('click', toggleMute);
  ui.serverStats.addEventListener('click', requestServerStats);
  ui.backspace.addEventListener('click', () => {
    ui.number.value = ui.number.value.slice(0, -1);
  });
  ui.clearLog.addEventListener('click', () => ui.log.replaceChildren());
  for (const button of keypad) button.addEventListener('click', () => press(button.dataset.tone, button));

  // Digits, * and # outside a text field use the keypad; Esc hangs up or rejects.
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === 'Escape') {
      if (currentState() === 'incoming' && !answering) reject();
      else if (!ui.hangup.disabled) hangup();
      return;
    }
    if (e.target instanceof HTMLInputElement) return;
    const button = keypad.find((b) => b.dataset.tone === e.key);
    if (button) {
      e.preventDefault();
      press(e.key, button);
    }
  });

  // Leaving the page signs out (the library's requests use keepalive).
  window.addEventListener('pagehide', () => {
    if (client) client.disconnect();
  });

  ui.gateway.value = /^https?:$/.test(location.protocol) ? location.origin : '';
  render();
})();
