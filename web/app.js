// leitmotif's search page: plain JavaScript, no libraries, talks to the JSON API of `leitmotif serve`.
'use strict';

const $ = (id) => document.getElementById(id);
const els = {
  form: $('search-form'), theme: $('theme'), go: $('go'), status: $('theme-status'), preview: $('preview'),
  drop: $('drop'), file: $('file'), fileName: $('file-name'), clearFile: $('clear-file'),
  selection: $('selection'), part: $('part'), measures: $('measures'), track: $('track'), voice: $('voice'),
  tempo: $('tempo'), duration: $('duration'), key: $('key'), top: $('top'), occurrences: $('occurrences'),
  busy: $('busy'), error: $('error'), results: $('results'), summary: $('summary'), rows: $('rows'),
  dbinfo: $('dbinfo'),
};
const PITCH = ['C', 'C#', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'Ab', 'A', 'Bb', 'B'];
const noteName = (p) => PITCH[p % 12] + (Math.floor(p / 12) - 1);

let file = null;          // an uploaded theme file (File), else the note list is used
let info = null;          // /api/info
let searchAbort = null;   // the search in flight
let checkAbort = null;    // the live check in flight
let checkTimer = 0;
let lastQuery = null;     // {params, file} of the results shown, for their figures

// ---- the options as API parameters
function timing() { return document.querySelector('input[name="timing"]:checked').value; }

function optionParams(forFile) {
  const p = new URLSearchParams();
  if (timing() === 'duration' && els.duration.value.trim() !== '') p.set('duration', els.duration.value.trim());
  else if (timing() === 'auto') p.set('duration', 'auto');
  // A file's tempo is its own unless one is typed (quarter notes per minute).
  else if (timing() === 'tempo' && els.tempo.value.trim() !== '') p.set('tempo', els.tempo.value.trim());
  if (els.key.value !== '0') p.set('transpose', els.key.value);
  if (forFile)
    for (const name of ['part', 'measures', 'track', 'voice'])
      if (els[name].value.trim() !== '') p.set(name, els[name].value.trim());
  return p;
}

async function errorText(resp) {
  try {
    const j = await resp.json();
    if (j && j.error) return j.error;
  } catch (e) { /* not JSON */ }
  return `${resp.status} ${resp.statusText}`;
}

// Sends a theme request: GET with the note list, or POST with the file.
function themeRequest(path, params, signal) {
  if (file) {
    const body = new FormData();
    body.append('file', file, file.name);
    return fetch(`${path}?${params}`, {method: 'POST', body, signal});
  }
  params.set('theme', els.theme.value);
  return fetch(`${path}?${params}`, {signal});
}

// ---- live check and preview of the theme
function setStatus(text, kind) {
  els.status.textContent = text;
  els.status.className = 'theme-status' + (kind ? ' ' + kind : '');
  els.theme.setAttribute('aria-invalid', kind === 'bad' ? 'true' : 'false');
}

function scheduleCheck() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(checkTheme, 180);
}

async function checkTheme() {
  if (checkAbort) checkAbort.abort();
  if (!file && els.theme.value.trim() === '') {
    setStatus('', '');
    drawPreview(null);
    return;
  }
  checkAbort = new AbortController();
  try {
    const resp = await themeRequest('/api/theme', optionParams(!!file), checkAbort.signal);
    if (!resp.ok) {
      setStatus(await errorText(resp), 'bad');
      drawPreview(null);
      return;
    }
    const t = await resp.json();
    const sounding = t.notes.filter((n) => n.pitch >= 0);
    setStatus(`✓ ${sounding.length} note${sounding.length === 1 ? '' : 's'}, ${t.duration_sec.toFixed(2)} s`, 'ok');
    drawPreview(t);
  } catch (e) {
    if (e.name !== 'AbortError') setStatus('cannot reach the server to check the theme', 'bad');
  }
}

function drawPreview(t) {
  const c = els.preview, dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth || 640, h = c.clientHeight || 110;
  c.width = Math.round(w * dpr);
  c.height = Math.round(h * dpr);
  const g = c.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  if (!t || !t.notes.length) {
    g.fillStyle = '#8a949e';
    g.font = '13px system-ui, sans-serif';
    g.fillText('the theme appears here as a piano roll', 12, h / 2 + 4);
    return;
  }
  const notes = t.notes.filter((n) => n.pitch >= 0);
  let lo = Math.min(...notes.map((n) => n.pitch)), hi = Math.max(...notes.map((n) => n.pitch));
  lo -= 1; hi += 1;
  const left = 40, top = 6, pw = w - left - 8, ph = h - top - 18;
  const rowH = ph / (hi - lo + 1), total = t.duration_sec || 1;
  for (let p = lo; p <= hi; p++) {  // black-key rows shaded
    if ([1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12)) {
      g.fillStyle = '#e7ebef';
      g.fillRect(left, top + (hi - p) * rowH, pw, rowH);
    }
  }
  g.fillStyle = '#1f5aa0';
  for (const n of notes) {
    const x = left + (n.onset / total) * pw, nw = Math.max(2, (n.duration / total) * pw - 1.5);
    g.fillRect(x, top + (hi - n.pitch) * rowH + 1, nw, Math.max(2, rowH - 2));
  }
  g.fillStyle = '#5b6570';
  g.font = '11px system-ui, sans-serif';
  g.fillText(noteName(hi - 1), 4, top + rowH * 1.8);
  g.fillText(noteName(lo + 1), 4, top + ph - rowH * 0.6);
  g.fillText('0 s', left, h - 4);
  const end = `${total.toFixed(1)} s`;
  g.fillText(end, left + pw - g.measureText(end).width, h - 4);
}

// ---- the theme file
function setFile(f) {
  file = f;
  els.fileName.textContent = f ? f.name : '';
  els.clearFile.hidden = !f;
  els.theme.disabled = !!f;
  els.selection.hidden = !f;
  // A file keeps its tempo marks unless a tempo is typed; a note list gets its 120 back.
  if (f && !els.tempo.dataset.noteTempo) {
    els.tempo.dataset.noteTempo = els.tempo.value || '120';
    els.tempo.value = '';
    els.tempo.placeholder = 'as written';
  } else if (!f && els.tempo.dataset.noteTempo) {
    els.tempo.value = els.tempo.dataset.noteTempo;
    delete els.tempo.dataset.noteTempo;
    els.tempo.placeholder = '';
  }
  if (f && timing() === 'tempo') els.status.textContent = '';
  checkTheme();
}

els.file.addEventListener('change', () => setFile(els.file.files[0] || null));
els.clearFile.addEventListener('click', () => { els.file.value = ''; setFile(null); els.theme.focus(); });
for (const ev of ['dragenter', 'dragover']) {
  els.drop.addEventListener(ev, (e) => { e.preventDefault(); els.drop.classList.add('over'); });
}
for (const ev of ['dragleave', 'drop']) {
  els.drop.addEventListener(ev, (e) => { e.preventDefault(); els.drop.classList.remove('over'); });
}
els.drop.addEventListener('drop', (e) => {
  const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
  if (f) setFile(f);
});

// ---- search
function showError(text) {
  els.error.textContent = text;
  els.error.hidden = !text;
}

function setBusy(on) {
  els.busy.hidden = !on;
  els.go.disabled = on;
  els.results.setAttribute('aria-busy', on ? 'true' : 'false');
}

async function search() {
  showError('');
  if (!file && els.theme.value.trim() === '') {
    showError('Type a theme (a note list such as "G4 G4 G4 Eb4:4") or choose a MIDI, MusicXML or **kern file.');
    els.theme.focus();
    return;
  }
  if (searchAbort) searchAbort.abort();
  searchAbort = new AbortController();
  const params = optionParams(!!file);
  const top = els.top.value.trim();
  if (top !== '') params.set('top', top);
  if (els.occurrences.checked) params.set('occurrences', '1');
  const figureParams = new URLSearchParams(params);
  figureParams.delete('top');
  figureParams.delete('occurrences');
  if (!file) figureParams.set('theme', els.theme.value);
  setBusy(true);
  try {
    const resp = await themeRequest('/api/search', params, searchAbort.signal);
    if (!resp.ok) {
      showError(await errorText(resp));
      return;
    }
    const data = await resp.json();
    lastQuery = {params: figureParams, file};
    render(data);
    if (!file) {
      const url = new URL(location.href);
      url.search = new URLSearchParams({theme: els.theme.value, ...Object.fromEntries(params)}).toString();
      history.replaceState(null, '', url);
    }
  } catch (e) {
    if (e.name !== 'AbortError') showError('The server cannot be reached. Is leitmotif serve still running?');
  } finally {
    setBusy(false);
  }
}

const fmt = (s) => s.toFixed(2);

function render(data) {
  els.rows.querySelectorAll('audio').forEach((a) => a.pause());
  els.rows.replaceChildren();
  const n = data.results.length;
  const key = data.transpose === 'any' ? ', in any key'
    : data.transpose ? `, transposed ${data.transpose > 0 ? '+' : ''}${data.transpose}` : '';
  els.summary.textContent = `${n} of ${data.documents} recordings for “${data.theme}” (${fmt(data.theme_sec)} s` +
    (data.duration === 'auto' ? ' at any tempo' : '') + key + ')' +
    (data.unranked ? `; ${data.unranked} too short to match` : '');
  const worst = Math.max(0.001, ...data.results.map((r) => r.distance));
  data.results.forEach((r, i) => {
    const tr = document.createElement('tr');
    tr.dataset.id = r.id;
    if (i === 0) tr.className = 'first';
    const cell = (cls, text) => {
      const td = document.createElement('td');
      td.className = cls;
      if (text !== undefined) td.textContent = text;
      tr.appendChild(td);
      return td;
    };
    cell('rank', String(r.rank));
    cell('id', r.id).title = r.path;
    const dist = cell('dist', r.distance.toFixed(4));
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.round(4 + 56 * (1 - r.distance / worst))}px`;
    dist.appendChild(bar);
    const passage = cell('passage', `${fmt(r.start_sec)}–${fmt(r.end_sec)} s`);
    const notes = [];
    if (data.transpose === 'any') notes.push(r.transpose ? `transposed ${r.transpose > 0 ? '+' : ''}${r.transpose}` : 'in the written key');
    if (data.duration === 'auto') notes.push(`theme at ${fmt(r.theme_sec)} s`);
    if (notes.length) {
      const small = document.createElement('div');
      small.className = 'variant';
      small.textContent = notes.join(', ');
      passage.appendChild(small);
    }
    const listen = cell('listen');
    const audio = document.createElement('audio');
    audio.controls = true;
    audio.preload = 'none';
    audio.src = `/audio/${encodeURIComponent(r.id)}#t=${fmt(r.start_sec)},${fmt(r.end_sec)}`;
    const play = document.createElement('button');
    play.type = 'button';
    play.className = 'play';
    play.textContent = '▶ passage';
    play.setAttribute('aria-label', `play the matched passage of ${r.id}`);
    play.addEventListener('click', () => playPassage(audio, r.start_sec, r.end_sec));
    audio.addEventListener('timeupdate', () => {
      if (audio.dataset.stopAt && audio.currentTime >= Number(audio.dataset.stopAt)) {
        audio.pause();
        delete audio.dataset.stopAt;
      }
    });
    listen.append(play, audio);
    if (r.occurrences && r.occurrences.length > 1) {  // every passage: the first is the match itself
      const list = document.createElement('div');
      list.className = 'occurrences';
      list.append('also: ');
      r.occurrences.slice(1).forEach((o) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'occ';
        b.textContent = `▶ ${fmt(o.start_sec)}–${fmt(o.end_sec)}` + (o.transpose ? ` (${o.transpose > 0 ? '+' : ''}${o.transpose})` : '');
        b.title = `distance ${o.distance.toFixed(4)}`;
        b.addEventListener('click', () => playPassage(audio, o.start_sec, o.end_sec));
        list.appendChild(b);
      });
      passage.appendChild(list);
    }
    const figCell = cell('fig');
    const figBtn = document.createElement('button');
    figBtn.type = 'button';
    figBtn.className = 'link';
    figBtn.textContent = 'show';
    figBtn.setAttribute('aria-expanded', 'false');
    figCell.appendChild(figBtn);
    const figRow = document.createElement('tr');
    figRow.className = 'figure-row';
    figRow.hidden = true;
    const figTd = document.createElement('td');
    figTd.colSpan = 6;
    figRow.appendChild(figTd);
    figBtn.addEventListener('click', () => toggleFigure(figRow, figTd, figBtn, r));
    els.rows.append(tr, figRow);
    if (i === 0) toggleFigure(figRow, figTd, figBtn, r);  // the best match's figure at once
  });
  els.results.hidden = false;
}

function playPassage(audio, start, end) {
  document.querySelectorAll('audio').forEach((a) => { if (a !== audio) a.pause(); });
  audio.dataset.stopAt = String(end);
  const go = () => {
    audio.currentTime = start;
    audio.play().catch(() => {});
  };
  if (audio.readyState >= 1) go();
  else {
    audio.preload = 'auto';
    audio.addEventListener('loadedmetadata', go, {once: true});
    audio.load();
  }
}

async function toggleFigure(row, td, btn, r) {
  row.hidden = !row.hidden;
  btn.textContent = row.hidden ? 'show' : 'hide';
  btn.setAttribute('aria-expanded', String(!row.hidden));
  if (row.hidden || td.dataset.loaded) return;
  td.dataset.loaded = '1';
  const status = document.createElement('span');
  status.className = 'fig-status';
  status.textContent = 'drawing the figure…';
  td.replaceChildren(status);
  const q = lastQuery;
  const params = new URLSearchParams(q.params);
  params.set('doc', r.id);
  if (params.get('transpose') === 'any') params.set('transpose', String(r.transpose));
  if (params.get('duration') === 'auto') params.set('duration', String(r.theme_sec));
  try {
    let resp;
    if (q.file) {
      const body = new FormData();
      body.append('file', q.file, q.file.name);
      resp = await fetch(`/api/figure?${params}`, {method: 'POST', body});
    } else {
      resp = await fetch(`/api/figure?${params}`);
    }
    if (!resp.ok) {
      status.textContent = `no figure: ${await errorText(resp)}`;
      delete td.dataset.loaded;
      return;
    }
    const img = document.createElement('img');
    img.alt = `The theme's chroma beside the chroma of ${r.id} from ${fmt(r.start_sec)} to ${fmt(r.end_sec)} s, ` +
      'and the matching function over the whole recording with the match shaded';
    img.src = URL.createObjectURL(await resp.blob());
    td.replaceChildren(img);
  } catch (e) {
    status.textContent = 'no figure: the server cannot be reached';
    delete td.dataset.loaded;
  }
}

els.form.addEventListener('submit', (e) => { e.preventDefault(); search(); });
els.theme.addEventListener('input', scheduleCheck);
for (const el of [els.tempo, els.duration, els.key, els.part, els.measures, els.track, els.voice])
  el.addEventListener('change', scheduleCheck);
document.querySelectorAll('input[name="timing"]').forEach((el) => el.addEventListener('change', scheduleCheck));
window.addEventListener('resize', () => { clearTimeout(checkTimer); checkTimer = setTimeout(checkTheme, 200); });

// ---- start: the database, and a search given in the address (?theme=...&top=...)
(async function start() {
  try {
    const resp = await fetch('/api/info');
    info = await resp.json();
    els.dbinfo.textContent = `${info.documents} recordings · ${info.features} features · ${info.database}`;
    if (!info.transpose_any) els.key.options[1].textContent = 'any (not supported yet)';
    $('auto-opt').hidden = !info.duration_auto;
    $('occ-opt').hidden = !info.occurrences;
    els.duration.max = String(info.limits.max_theme_sec);
    els.top.max = String(info.limits.max_top);
  } catch (e) {
    els.dbinfo.textContent = 'the server cannot be reached';
  }
  const q = new URLSearchParams(location.search);
  if (q.has('top')) els.top.value = q.get('top');
  if (q.has('tempo')) els.tempo.value = q.get('tempo');
  if (q.get('duration') === 'auto') document.querySelector('input[name="timing"][value="auto"]').checked = true;
  else if (q.has('duration')) {
    els.duration.value = q.get('duration');
    document.querySelector('input[name="timing"][value="duration"]').checked = true;
  }
  if (q.get('occurrences') === '1') els.occurrences.checked = true;
  if (q.get('transpose') === 'any') els.key.value = 'any';
  if (q.has('theme')) {
    els.theme.value = q.get('theme');
    checkTheme();
    search();
  } else {
    drawPreview(null);
    els.theme.focus();
  }
})();
