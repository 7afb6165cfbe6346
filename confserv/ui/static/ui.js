// The Configuration Server UI's only script (loaded with defer; the
// Content-Security-Policy allows no inline script). Every page works without
// it but for adding rows to list editors; it adds: list editors, "Default"
// buttons, highlighting of unsaved changes with a warning before leaving,
// the option filter, Ctrl+S, confirmations, and the live refresh of status.
'use strict';

(function () {
  const editor = document.getElementById('editor');

  // --- list editors -------------------------------------------------------

  function addRow(list, value) {
    const tpl = list.querySelector('template');
    const li = tpl.content.firstElementChild.cloneNode(true);
    const input = li.querySelector('input, select');
    input.removeAttribute('id');
    if (value !== undefined) input.value = value;
    list.querySelector('ol').appendChild(li);
    return input;
  }

  function listAction(btn) {
    const list = btn.closest('[data-list]');
    const li = btn.closest('li');
    switch (btn.dataset.act) {
      case 'add':
        addRow(list).focus();
        break;
      case 'remove': {
        const next = li.nextElementSibling || li.previousElementSibling;
        li.remove();
        if (!list.querySelector('li')) addRow(list);
        (next || list.querySelector('li')).querySelector('input, select').focus();
        break;
      }
      case 'up':
        if (li.previousElementSibling) li.parentNode.insertBefore(li, li.previousElementSibling);
        btn.focus();
        break;
      case 'down':
        if (li.nextElementSibling) li.parentNode.insertBefore(li.nextElementSibling, li);
        btn.focus();
        break;
    }
  }

  // --- values, bases and unsaved changes ----------------------------------

  function parseBool(v) {
    return ['true', 'yes', 'on', '1'].includes(String(v).trim().toLowerCase());
  }

  // submitted returns what the row's editor would submit, normalized the way
  // the server compares it with the base (editor.go readSubmission).
  function submitted(row) {
    const kind = row.dataset.editor;
    const key = row.dataset.key;
    const inputs = Array.from(row.querySelectorAll('[name="v:' + CSS.escape(key) + '"]'));
    if (kind === 'list' || kind === 'list-select') {
      return inputs.map(i => i.value.trim()).filter(v => v !== '');
    }
    if (kind === 'checkbox') {
      const box = inputs.find(i => i.type === 'checkbox');
      return [box && box.checked ? 'true' : 'false'];
    }
    const last = inputs[inputs.length - 1];
    return [last ? last.value.trim() : ''];
  }

  function base(row) {
    const key = row.dataset.key;
    const vals = Array.from(row.querySelectorAll('input[type=hidden][name="b:' + CSS.escape(key) + '"]')).map(i => i.value.trim());
    const kind = row.dataset.editor;
    if (kind === 'list' || kind === 'list-select') return vals.filter(v => v !== '');
    return vals.slice(-1);
  }

  function isEdited(row) {
    if (row.dataset.editor === 'secret') {
      const pw = row.querySelector('input[type=password]');
      const clear = row.querySelector('input[name^="clear:"]');
      return (pw && pw.value !== '') || (clear && clear.checked);
    }
    const a = submitted(row), b = base(row);
    return a.length !== b.length || a.some((v, i) => v !== b[i]);
  }

  // isDefault reports whether the row holds its default (empty means the
  // default too).
  function isDefault(row) {
    const kind = row.dataset.editor;
    const def = row.dataset.default || '';
    const v = submitted(row);
    if (kind === 'list' || kind === 'list-select') {
      const d = def.split(',').map(s => s.trim()).filter(s => s !== '');
      return v.length === 0 || (v.length === d.length && v.every((x, i) => x === d[i]));
    }
    if (kind === 'checkbox') return parseBool(v[0]) === parseBool(def);
    return v[0] === '' || v[0] === def;
  }

  let dirty = 0;
  function refreshEdited() {
    if (!editor) return;
    dirty = 0;
    for (const row of editor.querySelectorAll('.opt[data-key]')) {
      const e = isEdited(row);
      row.classList.toggle('edited', e);
      if (e) dirty++;
      const reset = row.querySelector('button[data-act=reset]');
      if (reset) reset.hidden = row.dataset.default !== undefined && isDefault(row);
    }
    const count = editor.querySelector('[data-edited-count]');
    if (count) {
      count.textContent = dirty === 0 ? 'No unsaved changes.' : dirty === 1 ? '1 unsaved change.' : dirty + ' unsaved changes.';
      count.classList.toggle('none', dirty === 0);
    }
  }

  function resetRow(row) {
    const def = row.dataset.default || '';
    const kind = row.dataset.editor;
    const key = row.dataset.key;
    if (kind === 'list' || kind === 'list-select') {
      const list = row.querySelector('[data-list]');
      list.querySelectorAll('li').forEach(li => li.remove());
      const items = def.split(',').map(s => s.trim()).filter(s => s !== '');
      items.forEach(v => addRow(list, v));
      if (items.length === 0) addRow(list);
    } else if (kind === 'checkbox') {
      row.querySelector('input[type=checkbox]').checked = parseBool(def);
    } else {
      const el = row.querySelector('[name="v:' + CSS.escape(key) + '"]');
      el.value = def;
    }
    refreshEdited();
  }

  // --- events -------------------------------------------------------------

  document.addEventListener('click', ev => {
    const btn = ev.target.closest('button[data-act]');
    if (!btn) return;
    if (btn.dataset.act === 'reset') {
      resetRow(btn.closest('.opt'));
    } else {
      listAction(btn);
      refreshEdited();
    }
  });

  document.addEventListener('submit', ev => {
    const form = ev.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      ev.preventDefault();
      return;
    }
    if (form === editor) dirty = 0; // leaving by saving
  });

  if (editor) {
    editor.addEventListener('input', refreshEdited);
    editor.addEventListener('change', refreshEdited);
    window.addEventListener('beforeunload', ev => {
      if (dirty > 0) {
        ev.preventDefault();
        ev.returnValue = '';
      }
    });
    refreshEdited();
  }

  // Ctrl+S saves; "/" goes to the filter.
  document.addEventListener('keydown', ev => {
    if (editor && (ev.ctrlKey || ev.metaKey) && ev.key === 's') {
      ev.preventDefault();
      if (editor.querySelector('button[type=submit]')) editor.requestSubmit();
      return;
    }
    const filter = document.querySelector('[data-filter]');
    if (filter && ev.key === '/' && !ev.target.closest('input, select, textarea')) {
      ev.preventDefault();
      filter.focus();
    }
  });

  // The option filter: rows whose name, key or description match.
  const filter = document.querySelector('[data-filter]');
  if (filter && editor) {
    filter.addEventListener('keydown', ev => {
      if (ev.key === 'Enter') ev.preventDefault(); // not a save
      if (ev.key === 'Escape') { filter.value = ''; filter.dispatchEvent(new Event('input')); }
    });
    filter.addEventListener('input', ev => {
      ev.stopPropagation();
      const q = filter.value.trim().toLowerCase();
      for (const group of editor.querySelectorAll('fieldset.group')) {
        let shown = 0;
        for (const row of group.querySelectorAll('.opt')) {
          const hit = q === '' || row.textContent.toLowerCase().includes(q) || row.dataset.key.toLowerCase().includes(q);
          row.hidden = !hit;
          if (hit) shown++;
        }
        group.hidden = shown === 0;
      }
    });
  }

  // After a refused save, go to what needs attention.
  const conflict = document.getElementById('conflict');
  const invalid = document.querySelector('.opt.invalid input, .opt.invalid select');
  if (conflict) conflict.focus();
  else if (invalid) invalid.focus();

  // --- live refresh -------------------------------------------------------

  function refreshLive(el) {
    if (document.visibilityState !== 'visible') return;
    fetch(el.dataset.refresh, {credentials: 'same-origin', cache: 'no-store'}).then(res => {
      if (!res.ok || res.redirected) throw new Error('status ' + res.status);
      return res.text();
    }).then(html => {
      const t = document.createElement('template');
      t.innerHTML = html;
      if (el.tagName === 'TABLE') {
        const body = t.content.querySelector('tbody');
        if (body && el.tBodies[0]) el.replaceChild(body, el.tBodies[0]);
      } else {
        el.replaceChildren(...t.content.childNodes);
      }
    }).catch(() => { el.dataset.refreshFailed = '1'; });
  }
  for (const el of document.querySelectorAll('[data-refresh]')) {
    setInterval(() => { if (!el.dataset.refreshFailed) refreshLive(el); }, 5000);
  }
})();
