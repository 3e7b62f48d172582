// app.js - the dashboard's logic. State comes once from the JSON API (/api/jobs,
// /api/workers, /api/jobs/ID); after that it changes only through server-sent
// events (/api/events): job progress, task transitions, each agent's live output.
'use strict';

const S = { jobs: new Map(), workers: [], tasks: new Map(), selected: null,
            token: '', fetches: 0, events: 0 };
window.swarmStats = S; // read by the browser test

function esc(s) {
  return String(s == null ? '' : s).replace(/[&<>"']/g,
    c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function headers() {
  return S.token ? { Authorization: 'Bearer ' + S.token } : {};
}

function say(msg) {
  const m = document.getElementById('message');
  m.textContent = msg || '';
  m.hidden = !msg;
}

async function api(path, opts) {
  S.fetches++;
  const r = await fetch(path, Object.assign({ headers: headers() }, opts || {}));
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) throw new Error('swarmd wants an API token: enter it at the top right');
  if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
  return body;
}

// ---- jobs ----
function pct(n, total) { return total ? (100 * n / total).toFixed(2) + '%' : '0%'; }

function jobRow(j) {
  const live = j.state === 'running' || j.state === 'merging';
  return '<td class="id">' + esc(j.job_id) + '</td><td>' + esc(j.name) + '</td>' +
    '<td class="state ' + esc(j.state) + '">' + esc(j.state) + '</td>' +
    '<td><div class="bar" title="' + j.done + ' done, ' + j.failed + ' failed, ' + j.running +
    ' running of ' + j.total + '">' +
    '<span class="done" style="width:' + pct(j.done, j.total) + '"></span>' +
    '<span class="failed" style="width:' + pct(j.failed, j.total) + '"></span>' +
    '<span class="cancelled" style="width:' + pct(j.cancelled, j.total) + '"></span>' +
    '<span class="running" style="width:' + pct(j.running, j.total) + '"></span></div></td>' +
    '<td>' + j.done + '/' + j.total + '</td><td>' + j.failed + '</td><td>' + j.running +
    '</td><td>' + j.ready + '</td>' +
    '<td>' + (live ? '<button class="cancel" data-job="' + esc(j.job_id) + '">cancel</button>' : '') + '</td>';
}

function renderJob(j) {
  const body = document.querySelector('#jobs tbody');
  let tr = body.querySelector('tr[data-job="' + CSS.escape(j.job_id) + '"]');
  if (j.state === 'removed') {
    if (tr) tr.remove();
    S.jobs.delete(j.job_id);
    return;
  }
  S.jobs.set(j.job_id, j);
  if (!tr) {
    tr = document.createElement('tr');
    tr.className = 'job';
    tr.dataset.job = j.job_id;
    body.insertBefore(tr, body.firstChild); // newest first
  }
  tr.dataset.state = j.state;
  tr.dataset.done = j.done;
  tr.dataset.total = j.total;
  tr.classList.toggle('selected', j.job_id === S.selected);
  tr.innerHTML = jobRow(j);
  document.getElementById('jobs-empty').hidden = S.jobs.size > 0;
}

// ---- workers ----
function renderWorkers(list) {
  S.workers = list;
  document.querySelector('#workers tbody').innerHTML = list.map(w =>
    '<tr data-worker="' + esc(w.worker_id) + '"><td class="id">' + esc(w.worker_id) + '</td><td>' +
    esc(w.hostname) + '</td><td>' + esc(w.model) + '</td><td>' + w.busy + ' / ' + w.slots +
    '</td><td>' + Number(w.tokens_per_s).toFixed(1) + '</td><td>' + w.tokens_total + '</td><td>' +
    (w.quarantined ? '<span class="error" title="' + esc(w.quarantine_reason) + '">quarantined</span>'
                   : 'live') + '</td></tr>').join('');
}

// ---- agents (tasks) of the selected job ----
function taskRow(t) {
  const text = t.state === 'failed' && t.error ? 'error: ' + t.error
    : (t.step_line ? '[step ' + t.step + '] ' + t.step_line : t.tail || '');
  return '<td class="id">' + esc(t.task_id) + '</td><td class="state ' + esc(t.state) + '">' +
    esc(t.state) + (t.paused ? ' (paused: ' + esc(t.paused) + ')' : '') + '</td><td>' +
    (t.attempt || '') + '</td><td>' + esc(t.worker) + '</td><td>' + (t.tokens || 0) + '</td>' +
    '<td class="out' + (t.state === 'failed' ? ' error' : '') + '">' + esc(text) + '</td>';
}

function renderTask(t) {
  if (t.job_id !== S.selected) return;
  const old = S.tasks.get(t.task_id) || {};
  const merged = Object.assign({}, old, t);
  S.tasks.set(t.task_id, merged);
  const body = document.querySelector('#tasks tbody');
  let tr = body.querySelector('tr[data-task="' + CSS.escape(t.task_id) + '"]');
  if (!tr) {
    tr = document.createElement('tr');
    tr.dataset.task = t.task_id;
    // in task order, whether the API or an event showed it first
    const after = [...body.children].find(r => r.dataset.task > t.task_id);
    body.insertBefore(tr, after || null);
  }
  tr.dataset.state = merged.state || '';
  tr.innerHTML = taskRow(merged);
}

async function select(jobId) {
  S.selected = jobId;
  S.tasks.clear();
  document.querySelector('#tasks tbody').innerHTML = '';
  document.getElementById('sel-job').textContent = jobId || '-';
  document.querySelectorAll('#jobs tr.job').forEach(tr =>
    tr.classList.toggle('selected', tr.dataset.job === jobId));
  if (!jobId) return;
  try {
    const r = await api('/api/jobs/' + encodeURIComponent(jobId));
    if (S.selected !== jobId) return;
    r.tasks.forEach(renderTask);
    document.getElementById('tasks-note').textContent = r.tasks_truncated
      ? 'The first ' + r.tasks.length + ' of ' + r.job.total + ' agents.' : '';
  } catch (e) { say(e.message); }
}

// ---- events ----
function onEvent(kind, data) {
  S.events++;
  document.getElementById('sse-count').textContent = S.events;
  if (kind === 'job') renderJob(Object.assign({}, S.jobs.get(data.job_id) || {}, data));
  else if (kind === 'workers') renderWorkers(data.workers);
  else if (kind === 'task') renderTask(data);
  else if (kind === 'output') {
    const t = { job_id: data.job_id, task_id: data.task_id, worker: data.worker,
                tokens: data.tokens, attempt: data.attempt, state: 'running' };
    if (data.tail) t.tail = data.tail;
    if (data.step_line) { t.step_line = data.step_line; t.step = data.step; }
    t.paused = data.paused || '';
    renderTask(t);
  } else if (kind === 'result') {
    const t = { job_id: data.job_id, task_id: data.task_id, tokens: data.tokens };
    if (!data.ok) t.error = data.error;
    renderTask(t);
  }
}

function connect() {
  const url = '/api/events' + (S.token ? '?token=' + encodeURIComponent(S.token) : '');
  const es = new EventSource(url);
  const conn = document.getElementById('conn');
  es.onopen = () => { conn.textContent = 'live'; conn.className = 'pill on'; };
  es.onerror = () => { conn.textContent = 'reconnecting'; conn.className = 'pill off'; };
  ['job', 'task', 'output', 'result', 'workers'].forEach(kind =>
    es.addEventListener(kind, ev => onEvent(kind, JSON.parse(ev.data))));
  return es;
}

async function load() {
  say('');
  try {
    const [jobs, workers] = await Promise.all([api('/api/jobs'), api('/api/workers')]);
    document.querySelector('#jobs tbody').innerHTML = '';
    S.jobs.clear();
    jobs.jobs.slice().reverse().forEach(renderJob);
    renderWorkers(workers.workers);
    const live = jobs.jobs.find(j => j.state === 'running') || jobs.jobs[0];
    if (live && !S.selected) select(live.job_id);
    return true;
  } catch (e) { say(e.message); return false; }
}

document.addEventListener('click', async ev => {
  const b = ev.target.closest('button.cancel');
  if (b) {
    ev.stopPropagation();
    b.disabled = true;
    try {
      await api('/api/jobs/' + encodeURIComponent(b.dataset.job) + '/cancel', { method: 'POST' });
      say('');
    } catch (e) { say(e.message); b.disabled = false; }
    return;
  }
  const tr = ev.target.closest('tr.job');
  if (tr) select(tr.dataset.job);
});

let stream = null;
async function start() {
  if (stream) stream.close();
  stream = null;
  if (await load()) stream = connect();
}

(function init() {
  const m = /token=([^&]+)/.exec(location.hash);
  S.token = m ? decodeURIComponent(m[1]) : (sessionStorage.getItem('swarm-token') || '');
  const input = document.getElementById('token');
  input.value = S.token;
  input.addEventListener('change', () => {
    S.token = input.value.trim();
    sessionStorage.setItem('swarm-token', S.token);
    start();
  });
  start();
})();
